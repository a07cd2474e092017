#include "node/pod_spec.h"

#include <algorithm>

#include "core/quantity.h"
#include "node/object_data.h"

namespace bosun::node {
namespace {

std::string Str(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::vector<std::string> Strings(const Json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

bool Optional(const Json& ref) {
  const Json& o = Object::Field(ref, "optional");
  return o.is_boolean() && o.get<bool>();
}

void Set(std::vector<std::pair<std::string, std::string>>* env, const std::string& k, const std::string& v) {
  for (auto& [name, value] : *env) {
    if (name == k) {
      value = v;
      return;
    }
  }
  env->emplace_back(k, v);
}

std::optional<int64_t> IntField(const Json& j, const char* key) {
  const Json& v = Object::Field(j, key);
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

}  // namespace

FieldValues PodFieldValues(const Object& pod, const std::string& pod_ip, const std::string& host_ip) {
  FieldValues f;
  f["metadata.name"] = pod.name();
  f["metadata.namespace"] = pod.namespace_().empty() ? "default" : pod.namespace_();
  f["metadata.uid"] = pod.uid();
  f["spec.nodeName"] = Str(pod.spec(), "nodeName");
  std::string sa = Str(pod.spec(), "serviceAccountName");
  f["spec.serviceAccountName"] = sa.empty() ? "default" : sa;
  f["status.podIP"] = pod_ip;
  f["status.hostIP"] = host_ip;
  for (const auto& [k, v] : pod.labels()) f["metadata.labels['" + k + "']"] = v;
  for (const auto& [k, v] : pod.annotations()) f["metadata.annotations['" + k + "']"] = v;
  return f;
}

std::string ExpandVars(const std::string& s, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$' || i + 1 >= s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char next = s[i + 1];
    if (next == '$') {  // "$$" is an escaped "$"
      out.push_back('$');
      ++i;
      continue;
    }
    if (next == '(') {
      size_t close = s.find(')', i + 2);
      if (close != std::string::npos) {
        std::string name = s.substr(i + 2, close - i - 2);
        auto it = vars.find(name);
        if (it != vars.end()) {
          out += it->second;
        } else {
          out += s.substr(i, close - i + 1);
        }
        i = close;
        continue;
      }
    }
    out.push_back('$');
  }
  return out;
}

Result<std::vector<std::string>> ResolveArgv(const Json& container, const ImageConfig& image,
                                             const std::map<std::string, std::string>& vars) {
  const Json& cmd_j = Object::Field(container, "command");
  const Json& args_j = Object::Field(container, "args");
  std::vector<std::string> command = Strings(cmd_j);
  std::vector<std::string> args = Strings(args_j);
  bool has_command = cmd_j.is_array() && !command.empty();
  bool has_args = args_j.is_array() && !args.empty();
  std::vector<std::string> argv;
  if (has_command) {
    argv = command;
    argv.insert(argv.end(), args.begin(), args.end());
  } else {
    argv = image.entrypoint;
    const auto& tail = has_args ? args : image.cmd;
    argv.insert(argv.end(), tail.begin(), tail.end());
  }
  for (auto& a : argv) a = ExpandVars(a, vars);
  if (argv.empty()) {
    return Error(Code::kInvalid, "container \"" + Str(container, "name") +
                                     "\": no command specified (the image has no Entrypoint or Cmd, and the "
                                     "container sets no command or args)");
  }
  return argv;
}

Result<std::vector<std::pair<std::string, std::string>>> ResolveEnv(const Object& pod, const Json& container,
                                                                   const FieldValues& fields,
                                                                   const ObjectFetcher& fetch) {
  std::string ns = pod.namespace_().empty() ? "default" : pod.namespace_();
  std::string cname = Str(container, "name");
  std::vector<std::pair<std::string, std::string>> env;
  // Objects are read once per resolution.
  std::map<std::string, Result<std::map<std::string, std::string>>> cache;
  auto data = [&](const std::string& kind, const std::string& name) -> const Result<std::map<std::string, std::string>>& {
    std::string key = kind + "/" + name;
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    Result<std::map<std::string, std::string>> r = Error(Code::kNotFound, "");
    if (!fetch) {
      r = Error(Code::kNotFound, kind + " \"" + name + "\" cannot be read (no API)");
    } else {
      auto obj = fetch(kind, ns, name);
      if (!obj) {
        r = obj.error().code() == Code::kNotFound
                ? Error(Code::kNotFound, kind + " \"" + name + "\" not found in namespace \"" + ns + "\"")
                : obj.error();
      } else {
        r = KeysOf(*obj, kind == "Secret", kind + " " + obj->Key(), /*binary_data=*/false);
      }
    }
    return cache.emplace(key, std::move(r)).first->second;
  };
  auto where = [&](const std::string& what) { return "container \"" + cname + "\": " + what; };

  const Json& env_from = Object::Field(container, "envFrom");
  if (env_from.is_array()) {
    for (const auto& src : env_from) {
      std::string prefix = Str(src, "prefix");
      for (const char* kind : {"ConfigMap", "Secret"}) {
        const Json& ref = Object::Field(src, kind == std::string("ConfigMap") ? "configMapRef" : "secretRef");
        if (!ref.is_object()) continue;
        const auto& d = data(kind, Str(ref, "name"));
        if (!d) {
          if (d.error().code() == Code::kNotFound && Optional(ref)) continue;
          return d.error().Wrap(where("envFrom"));
        }
        for (const auto& [k, v] : *d) Set(&env, prefix + k, v);
      }
    }
  }
  const Json& env_j = Object::Field(container, "env");
  if (env_j.is_array()) {
    for (const auto& e : env_j) {
      std::string name = Str(e, "name");
      if (name.empty()) continue;
      std::map<std::string, std::string> defined(env.begin(), env.end());
      const Json& vf = Object::Field(e, "valueFrom");
      if (!vf.is_object()) {
        Set(&env, name, ExpandVars(Str(e, "value"), defined));
        continue;
      }
      bool set = false;
      for (const char* kind : {"ConfigMap", "Secret"}) {
        const Json& ref = Object::Field(vf, kind == std::string("ConfigMap") ? "configMapKeyRef" : "secretKeyRef");
        if (!ref.is_object()) continue;
        set = true;
        std::string obj = Str(ref, "name");
        std::string key = Str(ref, "key");
        const auto& d = data(kind, obj);
        if (!d) {
          if (d.error().code() == Code::kNotFound && Optional(ref)) break;
          return d.error().Wrap(where("env " + name));
        }
        auto it = d->find(key);
        if (it == d->end()) {
          if (Optional(ref)) break;
          return Error(Code::kNotFound,
                       where("env " + name + ": " + kind + " \"" + obj + "\" has no key \"" + key + "\""));
        }
        Set(&env, name, it->second);
      }
      if (set) continue;
      const Json& fr = Object::Field(vf, "fieldRef");
      if (fr.is_object()) {
        std::string path = Str(fr, "fieldPath");
        auto it = fields.find(path);
        if (it == fields.end()) {
          return Error(Code::kInvalid, where("env " + name + ": fieldRef " + path + " is not supported"));
        }
        Set(&env, name, it->second);
        continue;
      }
      const Json& rf = Object::Field(vf, "resourceFieldRef");
      if (rf.is_object()) {
        // limits.cpu / limits.memory / requests.*, in the divisor's units (default 1).
        std::string res = Str(rf, "resource");
        auto dot = res.find('.');
        std::string value = "0";
        if (dot != std::string::npos) {
          const Json& q = Object::Field(Object::Field(Object::Field(container, "resources"),
                                                      res.substr(0, dot).c_str()),
                                        res.substr(dot + 1).c_str());
          if (q.is_string()) {
            auto parsed = Quantity::Parse(q.get<std::string>());
            if (parsed) value = std::to_string(parsed->Value());
          }
        }
        Set(&env, name, value);
        continue;
      }
      Set(&env, name, "");
    }
  }
  return env;
}

Result<Resources> ResourcesOf(const Json& container) {
  Resources r;
  const Json& res = Object::Field(container, "resources");
  auto quantity = [&](const char* group, const char* name) -> Result<std::optional<Quantity>> {
    const Json& v = Object::Field(Object::Field(res, group), name);
    if (v.is_null()) return std::optional<Quantity>();
    std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    auto q = Quantity::Parse(text);
    if (!q) {
      return q.error().Wrap("container \"" + Str(container, "name") + "\": resources." + group + "." + name);
    }
    return std::optional<Quantity>(*q);
  };
  auto cpu_req = quantity("requests", "cpu");
  if (!cpu_req) return cpu_req.error();
  auto cpu_lim = quantity("limits", "cpu");
  if (!cpu_lim) return cpu_lim.error();
  auto mem_lim = quantity("limits", "memory");
  if (!mem_lim) return mem_lim.error();
  std::optional<Quantity> req = *cpu_req ? *cpu_req : *cpu_lim;
  r.cpu_shares = 2;
  if (req) r.cpu_shares = std::max<int64_t>(2, req->MilliValue() * 1024 / 1000);
  if (*cpu_lim) {
    // Kubernetes' minimum quota is 1 ms per period.
    r.cpu_quota_us = std::max<int64_t>(1000, (*cpu_lim)->MilliValue() * r.cpu_period_us / 1000);
  }
  if (*mem_lim) r.memory_limit_bytes = (*mem_lim)->Value();
  return r;
}

std::vector<PortMapping> HostPortsOf(const Object& pod) {
  std::vector<PortMapping> out;
  for (const char* list : {"initContainers", "containers"}) {
    const Json& cs = Object::Field(pod.spec(), list);
    if (!cs.is_array()) continue;
    for (const auto& c : cs) {
      const Json& ports = Object::Field(c, "ports");
      if (!ports.is_array()) continue;
      for (const auto& p : ports) {
        auto host = IntField(p, "hostPort");
        auto cport = IntField(p, "containerPort");
        if (!host || *host <= 0 || !cport) continue;
        PortMapping m;
        m.container_port = static_cast<int>(*cport);
        m.host_port = static_cast<int>(*host);
        std::string proto = Str(p, "protocol");
        m.protocol = proto.empty() ? "TCP" : proto;
        m.host_ip = Str(p, "hostIP");
        out.push_back(m);
      }
    }
  }
  return out;
}

Result<ContainerConfig> BuildContainerConfig(const Object& pod, const Json& container, const Image& image,
                                             const FieldValues& fields, const ObjectFetcher& fetch,
                                             std::vector<Mount> mounts, int attempt) {
  ContainerConfig c;
  c.name = Str(container, "name");
  c.attempt = attempt;
  c.image.digest = image.digest;
  c.image.layer_dirs = image.layer_dirs;
  auto own = ResolveEnv(pod, container, fields, fetch);
  if (!own) return own.error();
  std::map<std::string, std::string> vars(own->begin(), own->end());
  auto argv = ResolveArgv(container, image.config, vars);
  if (!argv) return argv.error();
  c.argv = std::move(*argv);
  // The image's env first; the container's replace same-named entries.
  std::vector<std::pair<std::string, std::string>> env;
  for (const auto& kv : image.config.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    Set(&env, kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (const auto& [k, v] : *own) Set(&env, k, v);
  if (std::none_of(env.begin(), env.end(), [](const auto& kv) { return kv.first == "PATH"; })) {
    env.insert(env.begin(), {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
  }
  if (std::none_of(env.begin(), env.end(), [](const auto& kv) { return kv.first == "HOSTNAME"; })) {
    env.emplace_back("HOSTNAME", pod.name());
  }
  for (const auto& [k, v] : env) c.env.push_back(k + "=" + v);
  c.working_dir = Str(container, "workingDir");
  if (c.working_dir.empty()) c.working_dir = image.config.working_dir;

  const Json& pod_sc = Object::Field(pod.spec(), "securityContext");
  const Json& sc = Object::Field(container, "securityContext");
  c.run_as_user = IntField(sc, "runAsUser");
  if (!c.run_as_user) c.run_as_user = IntField(pod_sc, "runAsUser");
  c.run_as_group = IntField(sc, "runAsGroup");
  if (!c.run_as_group) c.run_as_group = IntField(pod_sc, "runAsGroup");
  if (!c.run_as_user && !image.config.user.empty()) {
    // A numeric image User ("1000" or "1000:1000"); names need the image's
    // /etc/passwd, which the runtime resolves if it can.
    const std::string& u = image.config.user;
    auto colon = u.find(':');
    std::string uid = u.substr(0, colon);
    auto numeric = [](const std::string& s) {
      return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    };
    if (numeric(uid)) c.run_as_user = std::stoll(uid);
    if (colon != std::string::npos && numeric(u.substr(colon + 1)) && !c.run_as_group) {
      c.run_as_group = std::stoll(u.substr(colon + 1));
    }
  }
  const Json& ro = Object::Field(sc, "readOnlyRootFilesystem");
  c.read_only_rootfs = ro.is_boolean() && ro.get<bool>();
  c.mounts = std::move(mounts);
  auto res = ResourcesOf(container);
  if (!res) return res.error();
  c.resources = *res;
  return c;
}

}  // namespace bosun::node
