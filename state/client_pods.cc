// Client::Logs and Client::Exec: pods/NAME/log and pods/NAME/exec through the
// API server, which forwards them to the pod's node (api_pod_proxy.cc).
#include <cpprest/http_client.h>

#include "core/kinds.h"
#include "state/client_internal.h"

namespace bosun::state {

using client_internal::PercentEncode;
using client_internal::Subject;

namespace {

const KindInfo* PodKind() {
  static const KindInfo* k = KindRegistry::Builtin().Find(GroupVersionKind{"", "v1", "Pod"});
  return k;
}

std::string PodPath(const std::string& ns, const std::string& pod, const std::string& sub) {
  return "/api/v1/namespaces/" + PercentEncode(ns) + "/pods/" + PercentEncode(pod) + "/" + sub;
}

}  // namespace

Status Client::Logs(const std::string& ns, const std::string& pod, const LogOptions& options,
                    const std::function<void(std::string_view)>& on_data) {
  std::string target = PodPath(ns, pod, "log") + "?";
  if (!options.container.empty()) target += "container=" + PercentEncode(options.container) + "&";
  if (options.follow) target += "follow=true&";
  if (options.previous) target += "previous=true&";
  if (options.timestamps) target += "timestamps=true&";
  if (options.tail_lines >= 0) target += "tailLines=" + std::to_string(options.tail_lines) + "&";
  target.pop_back();
  Subject subject{PodKind(), ns, pod};
  auto stream = impl_->OpenStream(target, subject, pplx::cancellation_token::none());
  if (!stream) return stream.error();
  try {
    auto buf = stream->response.body().streambuf();
    using traits = decltype(buf)::traits;
    uint8_t chunk[16384];
    while (true) {
      size_t avail = buf.in_avail();
      if (avail > 0) {
        size_t n = buf.getn(chunk, std::min(avail, sizeof chunk)).get();
        on_data(std::string_view(reinterpret_cast<const char*>(chunk), n));
        continue;
      }
      auto c = buf.bumpc().get();
      if (c == traits::eof()) return Ok();
      char ch = static_cast<char>(c);
      on_data(std::string_view(&ch, 1));
    }
  } catch (const std::exception& e) {
    return Error(Code::kUnavailable, "the log stream of pod \"" + pod + "\" was cut: " + e.what());
  }
}

Result<Client::ExecOutput> Client::Exec(const std::string& ns, const std::string& pod, const std::string& container,
                                        const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  if (argv.empty()) return Error(Code::kInvalid, "exec needs a command");
  std::string target = PodPath(ns, pod, "exec") + "?";
  if (!container.empty()) target += "container=" + PercentEncode(container) + "&";
  for (const auto& a : argv) target += "command=" + PercentEncode(a) + "&";
  target += "timeoutSeconds=" + std::to_string(timeout.count());
  Subject subject{PodKind(), ns, pod};
  std::string empty;
  // Not retried on another server once sent: the command may have run.
  auto j = impl_->Call("POST", target, nullptr, "application/json", /*is_write=*/true, subject);
  if (!j) return j.error();
  ExecOutput out;
  if (!j->is_object() || !(*j)["exitCode"].is_number_integer()) {
    return Error(Code::kInternal, "the node's exec answer has no exitCode");
  }
  out.exit_code = (*j)["exitCode"].get<int>();
  out.out = j->value("stdout", "");
  out.err = j->value("stderr", "");
  return out;
}

}  // namespace bosun::state
