#include "cli/client_flags.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/ascii.h"
#include "core/clock.h"

namespace bosun::cli {
namespace {

// Columns in UTF-8 text (kubectl pads by characters, not bytes).
size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

void AddClientFlags(CLI::App* cmd, ClientFlags* flags) {
  cmd->add_option("--server", flags->server, "API server URL(s), comma-separated")
      ->envname("BOSUN_SERVER")
      ->capture_default_str();
  cmd->add_option("--token-file", flags->token_file,
                  "File holding the bearer token (the admin.token in the data folder of `bosun up` or\n"
                  "`bosun server`; both print the export line that sets it)")
      ->envname("BOSUN_TOKEN_FILE")
      ->capture_default_str();
}

Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Error(Code::kIo,
                 "cannot read the token file " + path + ": " + std::strerror(errno) +
                     " (point --token-file or BOSUN_TOKEN_FILE at the admin.token in the data folder of `bosun up` or "
                     "`bosun server`)");
  }
  std::string line;
  std::getline(in, line);
  std::string token(TrimAscii(line));
  if (token.empty()) return Error(Code::kInvalid, "the token file " + path + " holds no token");
  return token;
}

Result<std::unique_ptr<state::Client>> MakeClient(const ClientFlags& flags) {
  return MakeClient(flags, state::ClientOptions{});
}

Result<std::unique_ptr<state::Client>> MakeClient(const ClientFlags& flags, state::ClientOptions options) {
  options.servers = SplitNonEmpty(flags.server, ',', /*trim=*/true);
  if (options.servers.empty()) return Error(Code::kInvalid, "--server is empty");
  auto token = ReadTokenFile(flags.token_file);
  if (!token) return token.error();
  options.token = std::move(*token);
  return state::Client::Create(options);
}

Status SplitKindName(std::string* kind, std::string* name) {
  const size_t slash = kind->find('/');
  if (slash == std::string::npos) return Ok();
  if (!name->empty()) {
    return Error(Code::kInvalid, "give KIND NAME or KIND/NAME, not both (\"" + *kind + "\" and \"" + *name + "\")");
  }
  *name = kind->substr(slash + 1);
  kind->resize(slash);
  if (kind->empty() || name->empty()) return Error(Code::kInvalid, "KIND/NAME needs both, e.g. deploy/web");
  return Ok();
}

Result<const KindInfo*> ResolveKind(const std::string& name) {
  const KindRegistry& reg = KindRegistry::Builtin();
  if (const KindInfo* k = reg.FindResource(name)) return k;
  std::string known;
  for (const KindInfo& k : reg.all()) {
    if (!known.empty()) known += ", ";
    known += k.QualifiedResource();
    if (!k.short_names.empty()) known += " (" + k.short_names[0] + ")";
  }
  return Error(Code::kInvalid, "bosun has no resource type \"" + name + "\"; it knows " + known);
}

std::string ObjectRef(const KindInfo& kind, const std::string& name) {
  std::string ref = kind.singular;
  if (!kind.gvk.group.empty()) ref += "." + kind.gvk.group;
  return ref + "/" + name;
}

int Fail(const char* verb, const std::string& message) {
  std::fprintf(stderr, "bosun %s: %s\n", verb, message.c_str());
  return 1;
}

std::string Printable(std::string_view s, bool keep_tabs) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    auto escape = [&](unsigned char byte) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    };
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      // A C1 control (U+0080–U+009F): some terminals act on them too.
      escape(c);
      escape(static_cast<unsigned char>(s[++i]));
    } else if ((c == '\t' && keep_tabs) || (c >= 0x20 && c != 0x7f)) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      escape(c);
    }
  }
  return out;
}

void TablePrinter::Fit(const std::vector<std::vector<std::string>>& rows) {
  if (widths_.size() < header_.size()) widths_.resize(header_.size(), 0);
  for (size_t i = 0; i < header_.size(); ++i) widths_[i] = std::max(widths_[i], DisplayWidth(Printable(header_[i])));
  for (const auto& row : rows) {
    if (widths_.size() < row.size()) widths_.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths_[i] = std::max(widths_[i], DisplayWidth(Printable(row[i])));
  }
}

void TablePrinter::PrintHeader() {
  PrintRow(header_);
}

void TablePrinter::PrintRow(const std::vector<std::string>& row) {
  Fit({row});
  Print(row);
}

void TablePrinter::Print(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string cell = Printable(cells[i]);
    line += cell;
    if (i + 1 < cells.size()) line.append(widths_[i] - DisplayWidth(cell) + 3, ' ');
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

namespace {

std::optional<std::chrono::system_clock::time_point> ParseSeconds(const std::string& ts) {
  std::tm tm{};
  if (ts.empty() || strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::string Age(const std::string& ts) {
  auto created = ParseSeconds(ts);
  if (!created) return "<unknown>";
  auto d = Clock::System().Now() - *created;
  return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

std::string DurationBetween(const std::string& from, const std::string& to) {
  auto a = ParseSeconds(from), b = to.empty() ? std::optional(Clock::System().Now()) : ParseSeconds(to);
  if (!a || !b) return "";
  return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(*b - *a).count());
}

std::string HumanDuration(long long secs) {
  // k8s.io/apimachinery/pkg/util/duration.HumanDuration.
  if (secs < -1) return "<invalid>";
  if (secs < 0) return "0s";
  char buf[32];
  long long mins = secs / 60, hours = secs / 3600;
  if (secs < 120) {
    std::snprintf(buf, sizeof buf, "%llds", secs);
  } else if (mins < 10) {
    long long s = secs % 60;
    s == 0 ? std::snprintf(buf, sizeof buf, "%lldm", mins) : std::snprintf(buf, sizeof buf, "%lldm%llds", mins, s);
  } else if (mins < 180) {
    std::snprintf(buf, sizeof buf, "%lldm", mins);
  } else if (hours < 8) {
    long long m = mins % 60;
    m == 0 ? std::snprintf(buf, sizeof buf, "%lldh", hours) : std::snprintf(buf, sizeof buf, "%lldh%lldm", hours, m);
  } else if (hours < 48) {
    std::snprintf(buf, sizeof buf, "%lldh", hours);
  } else if (hours < 24 * 8) {
    long long h = hours % 24;
    h == 0 ? std::snprintf(buf, sizeof buf, "%lldd", hours / 24)
           : std::snprintf(buf, sizeof buf, "%lldd%lldh", hours / 24, h);
  } else if (hours < 24 * 365 * 2) {
    std::snprintf(buf, sizeof buf, "%lldd", hours / 24);
  } else if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    dy == 0 ? std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365)
            : std::snprintf(buf, sizeof buf, "%lldy%lldd", hours / 24 / 365, dy);
  } else {
    std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365);
  }
  return buf;
}

}  // namespace bosun::cli
