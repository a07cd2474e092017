// `bosun seal` and `bosun keys` (docs/SECRETS.md).
//
//   bosun seal [-f secret.yaml|-] [--scope strict|namespace|cluster] [--public-key FILE]
//     reads v1 Secrets (data and stringData) and prints bosun.dev/v1
//     SealedSecrets: every value sealed with the cluster's public key for the
//     scope (crypto/sealed.h), the Secret's labels, annotations and type in
//     spec.template, the scope in the bosun.dev/sealed-scope annotation. The
//     public key comes from the API (GET /bosun/v1/sealing/keys) or, offline,
//     from --public-key (the output of `bosun keys public`).
//   bosun seal --re-encrypt [-f sealed.yaml|-]
//     has the server seal every value again under its newest key (admin
//     token; the values are opened only inside the server).
//   bosun keys ls | rotate | public | generate FILE
//     lists the keys, adds a new one (admin), prints the newest public key,
//     or makes a key pair file offline (mode 0600; `bosun server
//     --sealing-key-file FILE` imports it).
//
// Plaintext values are never printed; the copies held here are wiped.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <cpprest/http_client.h>
#include <unistd.h>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "core/clock.h"
#include "core/manifests.h"
#include "core/yaml.h"
#include "core/yaml_emit.h"
#include "crypto/sealed.h"
#include "crypto/sshsig.h"
#include "crypto/tokens.h"
#include "reconciler/sealedsecret_controller.h"
#include "reconciler/sealing_keys.h"

namespace bosun::cli {
namespace {

struct SealOptions {
  std::string file = "-";
  std::string scope;
  std::string public_key_file;
  std::string ns;
  bool re_encrypt = false;
  ClientFlags client;
};

struct KeysOptions {
  std::string file;
  ClientFlags client;
};

Result<std::string> ReadInput(const std::string& path) {
  if (path == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return text;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kIo, "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '/' || s.back() == ' ')) s.pop_back();
  return s;
}

// A request to the first server of --server that answers; the body and the
// answer are JSON. Errors carry the server's Status message.
Result<Json> Call(const ClientFlags& flags, const std::string& method, const std::string& path, const Json& body) {
  auto token = ReadTokenFile(flags.token_file);
  if (!token) return token.error();
  std::vector<std::string> servers;
  std::stringstream ss(flags.server);
  for (std::string s; std::getline(ss, s, ',');) {
    if (!s.empty()) servers.push_back(Trimmed(s));
  }
  std::string last_error = "no server given (--server)";
  for (const auto& server : servers) {
    try {
      web::http::client::http_client_config cfg;
      cfg.set_timeout(std::chrono::seconds(30));
      web::http::client::http_client http(utility::conversions::to_string_t(server), cfg);
      web::http::http_request req(method == "POST" ? web::http::methods::POST : web::http::methods::GET);
      req.set_request_uri(utility::conversions::to_string_t(path));
      req.headers().add(U("Authorization"), U("Bearer ") + utility::conversions::to_string_t(*token));
      if (method == "POST") req.set_body(body.dump(), "application/json");
      auto resp = http.request(req).get();
      std::string text = resp.extract_utf8string(true).get();
      Json j = Json::parse(text, nullptr, false);
      int code = resp.status_code();
      if (code == 200) {
        crypto::Wipe(*token);
        return j;
      }
      std::string msg = j.is_object() ? j.value("message", text) : text;
      crypto::Wipe(*token);
      if (code == 401) return Error(Code::kUnauthorized, server + ": " + msg + " (check --token-file)");
      if (code == 403) return Error(Code::kForbidden, msg);
      if (code == 404) return Error(Code::kNotFound, msg);
      if (code == 422 || code == 400) return Error(Code::kInvalid, msg);
      if (code != 503) return Error(Code::kInternal, server + " answered " + std::to_string(code) + ": " + msg);
      last_error = server + ": " + msg;
      token = ReadTokenFile(flags.token_file);
      if (!token) return token.error();
    } catch (const std::exception& e) {
      last_error = "cannot reach the bosun API at " + server + ": " + e.what();
    }
  }
  if (token) crypto::Wipe(*token);
  return Error(Code::kUnavailable, last_error);
}

Result<std::vector<reconciler::SealingKeyInfo>> FetchKeys(const ClientFlags& flags) {
  auto j = Call(flags, "GET", "/bosun/v1/sealing/keys", nullptr);
  if (!j) return j.error();
  std::vector<reconciler::SealingKeyInfo> out;
  if (j->contains("items") && (*j)["items"].is_array()) {
    for (const auto& it : (*j)["items"]) {
      out.push_back({it.value("id", ""), it.value("created", ""), it.value("publicKey", ""), it.value("active", false)});
    }
  }
  if (out.empty()) return Error(Code::kNotFound, "the cluster has no sealing key yet");
  return out;
}

Result<crypto::SealingPublicKey> ActivePublicKey(const ClientFlags& flags) {
  auto keys = FetchKeys(flags);
  if (!keys) return keys.error();
  for (const auto& k : *keys) {
    if (k.active) return crypto::PublicKeyFromBase64(k.public_key);
  }
  return crypto::PublicKeyFromBase64(keys->back().public_key);
}

// The values of a Secret document (data decoded, stringData over it); the
// caller wipes them.
Result<std::map<std::string, std::string>> SecretValues(const Json& doc, const std::string& where) {
  std::map<std::string, std::string> values;
  const Json& data = Object::Field(doc, "data");
  if (data.is_object()) {
    for (auto it = data.begin(); it != data.end(); ++it) {
      if (!it.value().is_string()) return Error(Code::kInvalid, where + ": data." + it.key() + ": must be a string");
      auto raw = crypto::DecodeBase64(it.value().get<std::string>());
      if (!raw) {
        return Error(Code::kInvalid, where + ": data." + it.key() + ": must be base64-encoded (use stringData for plain text)");
      }
      values[it.key()] = std::move(*raw);
    }
  }
  const Json& sdata = Object::Field(doc, "stringData");
  if (sdata.is_object()) {
    for (auto it = sdata.begin(); it != sdata.end(); ++it) {
      if (!it.value().is_string()) return Error(Code::kInvalid, where + ": stringData." + it.key() + ": must be a string");
      values[it.key()] = it.value().get<std::string>();
    }
  }
  if (values.empty()) return Error(Code::kInvalid, where + ": the Secret has no data or stringData to seal");
  return values;
}

Result<Json> SealSecret(const Json& doc, const std::string& where, const crypto::SealingPublicKey& key,
                        const SealOptions& opt) {
  Object secret(doc);
  if (secret.api_version() != "v1" || secret.kind() != "Secret") {
    return Error(Code::kInvalid, where + ": a v1 Secret is needed, not " +
                                     (secret.kind().empty() ? std::string("a document without kind") : secret.api_version() + " " + secret.kind()));
  }
  if (secret.name().empty()) return Error(Code::kInvalid, where + ": metadata.name: required");
  std::string ns = !secret.namespace_().empty() ? secret.namespace_() : (opt.ns.empty() ? "default" : opt.ns);
  std::string scope_text = !opt.scope.empty() ? opt.scope
                                              : secret.annotation(reconciler::kSealedScopeAnnotation).value_or("strict");
  auto kind = crypto::ParseScopeKind(scope_text);
  if (!kind) return Error(Code::kInvalid, "--scope: " + kind.error().message());
  auto values = SecretValues(doc, where);
  if (!values) return values.error();
  crypto::SealScope scope = crypto::SealScope::For(*kind, ns, secret.name());
  Json encrypted = Json::object();
  Result<Json> out = Json();
  for (auto& [k, v] : *values) {
    auto sealed = crypto::Seal(key, scope, v);
    crypto::Wipe(v);
    if (!sealed) {
      out = Error(sealed.error().code(), where + ": " + k + ": " + sealed.error().message());
      continue;
    }
    encrypted[k] = *sealed;
  }
  if (!out) return out;
  Json tmeta = Json::object();
  tmeta["name"] = secret.name();
  tmeta["namespace"] = ns;
  const Json& meta = Object::Field(doc, "metadata");
  for (const char* f : {"labels", "annotations"}) {
    Json m = Object::Field(meta, f);
    if (m.is_object()) {
      m.erase(reconciler::kSealedScopeAnnotation);
      m.erase(kLastAppliedAnnotation);
      if (!m.empty()) tmeta[f] = m;
    }
  }
  Json tmpl = {{"metadata", tmeta}};
  tmpl["type"] = Object::Field(doc, "type").is_string() ? doc["type"].get<std::string>() : "Opaque";
  if (Object::Field(doc, "immutable").is_boolean()) tmpl["immutable"] = doc["immutable"];
  Json result = {{"apiVersion", "bosun.dev/v1"},
                 {"kind", "SealedSecret"},
                 {"metadata",
                  {{"name", secret.name()},
                   {"namespace", ns},
                   {"annotations", {{reconciler::kSealedScopeAnnotation, crypto::ScopeKindName(*kind)}}}}},
                 {"spec", {{"encryptedData", encrypted}, {"template", tmpl}}}};
  return result;
}

int RunSeal(const SealOptions& opt) {
  auto text = ReadInput(opt.file);
  if (!text) return Fail("seal", text.error().message());
  std::string source = opt.file == "-" ? "<stdin>" : opt.file;
  auto docs = LoadYaml(*text, source);
  if (!opt.re_encrypt && docs) {
    // Every problem at once, located as `bosun validate` locates it
    // (FILE:LINE:COL: field: message; messages never hold a value).
    SourceFile file{source, *text};
    LoadedFile loaded = LoadFile(file);
    crypto::Wipe(file.content);
    for (Manifest& m : loaded.objects) {
      for (const char* f : {"data", "stringData"}) {
        Json& values = m.object.json()[f];
        if (!values.is_object()) continue;
        for (auto& v : values) {
          if (v.is_string()) crypto::Wipe(v.get_ref<std::string&>());
        }
      }
    }
    size_t errors = 0;
    for (const Diagnostic& d : loaded.diagnostics) {
      if (d.severity != Severity::kError) continue;
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
      ++errors;
    }
    if (errors > 0) {
      crypto::Wipe(*text);
      return Fail("seal", std::to_string(errors) + (errors == 1 ? " error" : " errors") + " in " + source +
                              ": nothing was sealed");
    }
  }
  crypto::Wipe(*text);
  if (!docs) return Fail("seal", docs.error().message());
  if (docs->empty()) return Fail("seal", source + ": no document to seal");

  std::vector<Json> out;
  if (opt.re_encrypt) {
    if (!opt.public_key_file.empty()) {
      return Fail("seal", "--re-encrypt needs the cluster's private keys: it runs on the server, not with --public-key");
    }
    for (const auto& d : *docs) {
      std::string where = source + ":" + std::to_string(d.start.line);
      if (Object::Field(d.value, "kind") != "SealedSecret") {
        return Fail("seal", where + ": --re-encrypt takes SealedSecrets, not " + d.value.value("kind", "a document without kind"));
      }
      auto r = Call(opt.client, "POST", "/bosun/v1/sealing/reencrypt", d.value);
      if (!r) return Fail("seal", where + ": " + r.error().message());
      out.push_back(std::move(*r));
    }
  } else {
    Result<crypto::SealingPublicKey> key = Error(Code::kInternal, "");
    if (!opt.public_key_file.empty()) {
      auto pk = ReadInput(opt.public_key_file);
      if (!pk) return Fail("seal", "--public-key: " + pk.error().message());
      key = crypto::ParsePublicKey(*pk, opt.public_key_file);
    } else {
      key = ActivePublicKey(opt.client);
      if (!key) {
        return Fail("seal", "cannot get the cluster's public key: " + key.error().message() +
                                " (offline: `bosun keys public > pub.key` once, then --public-key pub.key)");
      }
    }
    if (!key) return Fail("seal", key.error().message());
    for (auto& d : *docs) {
      std::string where = source + ":" + std::to_string(d.start.line);
      auto r = SealSecret(d.value, where, *key, opt);
      // The document held the plaintext: scrub its strings.
      for (const char* f : {"data", "stringData"}) {
        if (d.value.is_object() && d.value.contains(f) && d.value[f].is_object()) {
          for (auto& v : d.value[f]) {
            if (v.is_string()) crypto::Wipe(v.get_ref<std::string&>());
          }
        }
      }
      if (!r) return Fail("seal", r.error().message());
      out.push_back(std::move(*r));
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) std::fputs("---\n", stdout);
    std::fputs(EmitYaml(out[i]).c_str(), stdout);
  }
  return 0;
}

int RunKeysLs(const KeysOptions& opt) {
  auto keys = FetchKeys(opt.client);
  if (!keys) return Fail("keys", keys.error().message());
  TablePrinter t({"ID", "CREATED", "ACTIVE"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : *keys) rows.push_back({k.id, k.created, k.active ? "yes" : "no"});
  t.Fit(rows);
  t.PrintHeader();
  for (const auto& r : rows) t.PrintRow(r);
  return 0;
}

int RunKeysRotate(const KeysOptions& opt) {
  auto r = Call(opt.client, "POST", "/bosun/v1/sealing/rotate", Json::object());
  if (!r) return Fail("keys", r.error().message());
  const Json& items = (*r)["items"];
  std::string id = items.is_array() && !items.empty() ? items[0].value("id", "") : "";
  std::printf("new sealing key %s seals from now on; older keys still decrypt what they sealed\n"
              "(re-seal old SealedSecrets with `bosun seal --re-encrypt -f FILE`)\n",
              id.c_str());
  return 0;
}

int RunKeysPublic(const KeysOptions& opt) {
  auto key = ActivePublicKey(opt.client);
  if (!key) return Fail("keys", key.error().message());
  std::fputs(crypto::PublicKeyFile(*key).c_str(), stdout);
  return 0;
}

int RunKeysGenerate(const KeysOptions& opt) {
  if (::access(opt.file.c_str(), F_OK) == 0) return Fail("keys", opt.file + " exists; not overwriting a key file");
  auto kp = crypto::SealingKeyPair::Generate(FormatRfc3339(Clock::System().Now()));
  if (!kp) return Fail("keys", kp.error().message());
  if (Status s = reconciler::WriteSealingKeyFile(opt.file, *kp); !s) return Fail("keys", s.error().message());
  std::fprintf(stderr, "wrote sealing key pair %s to %s (mode 0600; keep it secret)\n", kp->id().c_str(),
               opt.file.c_str());
  std::fputs(crypto::PublicKeyFile(kp->public_key()).c_str(), stdout);
  return 0;
}

}  // namespace

void AddSeal(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<SealOptions>();
  CLI::App* cmd = app.add_subcommand(
      "seal",
      "Turn v1 Secrets into SealedSecrets that are safe to commit: every value is encrypted with the\n"
      "cluster's public key and bound to its scope (strict: this namespace and name; namespace: any name\n"
      "in this namespace; cluster: anywhere). Only the cluster can decrypt them. Prints YAML on stdout.");
  cmd->add_option("-f,--filename", opt->file, "The Secret manifest(s) to seal, - for stdin")->capture_default_str();
  cmd->add_option("--scope", opt->scope, "strict (default), namespace or cluster");
  cmd->add_option("--public-key", opt->public_key_file,
                  "Seal offline with this public key (the output of `bosun keys public`)");
  cmd->add_option("-n,--namespace", opt->ns, "The namespace of Secrets that name none (default: default)");
  cmd->add_flag("--re-encrypt", opt->re_encrypt,
                "Seal SealedSecrets again under the cluster's newest key (on the server; admin token)");
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunSeal(*opt) == 0 ? 0 : 1; });
}

void AddKeys(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<KeysOptions>();
  CLI::App* cmd = app.add_subcommand("keys", "The cluster's sealing keys (sealed secrets)");
  cmd->require_subcommand(1);
  CLI::App* ls = cmd->add_subcommand("ls", "List the sealing keys: id, created, which one seals");
  CLI::App* rotate = cmd->add_subcommand("rotate", "Add a new sealing key that seals from now on (admin)");
  CLI::App* pub = cmd->add_subcommand("public", "Print the newest public key, for `bosun seal --public-key`");
  CLI::App* gen = cmd->add_subcommand(
      "generate", "Make a sealing key pair file offline (for `bosun server --sealing-key-file`); prints its public key");
  gen->add_option("file", opt->file, "Where to write the key pair (mode 0600)")->required();
  for (CLI::App* c : {ls, rotate, pub}) AddClientFlags(c, &opt->client);
  ls->callback([opt, exit_code] { *exit_code = RunKeysLs(*opt) == 0 ? 0 : 1; });
  rotate->callback([opt, exit_code] { *exit_code = RunKeysRotate(*opt) == 0 ? 0 : 1; });
  pub->callback([opt, exit_code] { *exit_code = RunKeysPublic(*opt) == 0 ? 0 : 1; });
  gen->callback([opt, exit_code] { *exit_code = RunKeysGenerate(*opt) == 0 ? 0 : 1; });
}

}  // namespace bosun::cli
