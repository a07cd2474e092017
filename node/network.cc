// node/network.cc — the CNI network: Debian's plugins run as a chain
// (loopback, bridge + host-local, portmap) by bosun itself through
// core/process, following the CNI 1.0 spec's conventions for chaining
// (prevResult) and DEL (reverse order, prevResult = the ADD's final result).
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <sodium.h>

#include "core/log.h"
#include "core/object.h"
#include "core/process.h"
#include "node/network.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

namespace bosun::node {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCniVersion = "1.0.0";
constexpr std::chrono::seconds kPluginTimeout{30};

// Pod uids name files and iptables comments: keep them to a safe alphabet.
bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  }) && id[0] != '.';
}

// True when `path` is a live network namespace (an nsfs bind mount or a
// /proc/PID/ns/net link). A stale file left after its namespace went away is
// not one, and the plugins must then be told there is no namespace.
bool IsNetns(const std::string& path) {
  if (path.empty()) return false;
  struct statfs st;
  if (statfs(path.c_str(), &st) != 0) return false;
  return static_cast<unsigned long>(st.f_type) == static_cast<unsigned long>(NSFS_MAGIC);
}

// The namespace's identity: a namespace re-created at the same path (a new
// sandbox, a reboot) is a different one and needs a fresh setup.
std::string NetnsId(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

// The chain name the bridge plugin gives a container's IP masquerade rules
// (containernetworking/plugins utils.FormatChainName: "CNI-" + the first 24
// hex digits of sha512(network name + container id)). libsodium's SHA-512:
// OpenSSL 3's first digest would initialise its provider tables, 2 MiB of
// the daemon's resident memory.
std::string MasqChain(const std::string& network, const std::string& id) {
  std::string in = network + id;
  unsigned char digest[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(digest, reinterpret_cast<const unsigned char*>(in.data()), in.size());
  char hex[2 * crypto_hash_sha512_BYTES + 1];
  for (size_t i = 0; i < crypto_hash_sha512_BYTES; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return "CNI-" + std::string(hex, 24);
}

Status WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Error(Code::kIo, "cannot write " + tmp + ": " + std::strerror(errno));
    f << content;
    f.flush();
    if (!f) return Error(Code::kIo, "cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Error(Code::kIo, "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  return Ok();
}

class CniNetwork : public Network {
 public:
  explicit CniNetwork(NetworkOptions o) : o_(std::move(o)) {}

  Result<std::string> Setup(const std::string& pod_uid, const std::string& netns_path,
                            const std::vector<PortMapping>& ports) override;
  Status Teardown(const std::string& pod_uid, const std::string& netns_path) override;

  Status Init() {
    std::error_code ec;
    fs::create_directories(ResultsDir(), ec);
    if (ec) return Error(Code::kIo, "cannot create " + ResultsDir() + ": " + ec.message());
    fs::create_directories(IpamDir(), ec);
    if (ec) return Error(Code::kIo, "cannot create " + IpamDir() + ": " + ec.message());
    for (const char* p : {"loopback", "bridge", "host-local", "portmap"}) {
      std::string path = o_.plugin_dir + "/" + p;
      if (access(path.c_str(), X_OK) != 0) {
        return Error(Code::kNotFound, "CNI plugin " + path +
                                          " not found (install Debian's containernetworking-plugins)");
      }
    }
    return Ok();
  }

 private:
  std::string ResultsDir() const { return o_.data_dir + "/results"; }
  std::string IpamDir() const { return o_.data_dir + "/ipam"; }
  std::string ResultPath(const std::string& uid) const { return ResultsDir() + "/" + uid + ".json"; }

  Json LoopbackConf() const { return {{"cniVersion", kCniVersion}, {"name", o_.network_name}, {"type", "loopback"}}; }
  Json BridgeConf() const {
    return {{"cniVersion", kCniVersion},
            {"name", o_.network_name},
            {"type", "bridge"},
            {"bridge", o_.bridge},
            {"isGateway", true},
            // A default route through the bridge: pods reach beyond the pod
            // CIDR (masqueraded), and answer hostPort clients that are not on
            // the bridge (the node's own addresses).
            {"isDefaultGateway", true},
            {"ipMasq", true},
            {"hairpinMode", true},
            {"ipam",
             {{"type", "host-local"},
              {"ranges", Json::array({Json::array({{{"subnet", o_.subnet}}})})},
              {"dataDir", IpamDir()}}}};
  }
  Json PortmapConf(const std::vector<PortMapping>& ports) const {
    Json maps = Json::array();
    for (const auto& p : ports) {
      std::string proto = p.protocol;
      std::transform(proto.begin(), proto.end(), proto.begin(), ::tolower);
      Json m = {{"hostPort", p.host_port}, {"containerPort", p.container_port}, {"protocol", proto.empty() ? "tcp" : proto}};
      if (!p.host_ip.empty()) m["hostIP"] = p.host_ip;
      maps.push_back(m);
    }
    return {{"cniVersion", kCniVersion},
            {"name", o_.network_name},
            {"type", "portmap"},
            {"capabilities", {{"portMappings", true}}},
            {"snat", true},
            {"runtimeConfig", {{"portMappings", maps}}}};
  }

  // Runs one plugin; returns its stdout parsed (null for an empty stdout).
  Result<Json> Exec(const std::string& command, const std::string& uid, const std::string& netns,
                    Json conf, const Json& prev_result) const;
  // Undoes whatever is left of the pod's network; collects errors.
  Status Del(const std::string& uid, const std::string& netns, const Json& saved);
  void TeardownMasquerade(const std::string& uid) const;

  NetworkOptions o_;
  // The plugins are built to run concurrently for different containers (as
  // CRI runtimes run them): host-local locks its leases, iptables runs with
  // -w. Operations on one pod are serialised, and so is the first ADD, which
  // creates the bridge.
  std::shared_ptr<std::mutex> PodLock(const std::string& uid) {
    std::lock_guard<std::mutex> l(locks_mu_);
    auto& m = pod_locks_[uid];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }
  void ForgetPodLock(const std::string& uid) {
    std::lock_guard<std::mutex> l(locks_mu_);
    auto it = pod_locks_.find(uid);
    if (it != pod_locks_.end() && it->second.use_count() == 1) pod_locks_.erase(it);
  }
  std::mutex locks_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> pod_locks_;  // guarded by locks_mu_
  std::mutex bridge_mu_;  // held by the ADD that creates the bridge
};

Result<Json> CniNetwork::Exec(const std::string& command, const std::string& uid, const std::string& netns,
                              Json conf, const Json& prev_result) const {
  const std::string type = conf["type"];
  if (!prev_result.is_null()) conf["prevResult"] = prev_result;
  process::Options o;
  o.argv = {o_.plugin_dir + "/" + type};
  o.env = std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  o.set_env = {{"CNI_COMMAND", command},
               {"CNI_CONTAINERID", uid},
               {"CNI_NETNS", netns},
               {"CNI_IFNAME", "eth0"},
               {"CNI_PATH", o_.plugin_dir}};
  o.stdin_data = conf.dump();
  o.timeout = kPluginTimeout;
  std::string what = "CNI plugin " + type + " " + command + " for pod " + uid;
  auto r = process::Run(o);
  if (!r) return r.error().Wrap(what);
  if (!r->ok()) {
    // CNI errors are JSON on stdout: {"code": N, "msg": "...", "details": "..."}.
    std::string msg;
    Json err = Json::parse(r->out, nullptr, false);
    if (err.is_object() && err.contains("msg")) {
      msg = err.value("msg", "");
      std::string details = err.value("details", "");
      if (!details.empty()) msg += ": " + details;
      if (err.contains("code")) msg += " (CNI error code " + err["code"].dump() + ")";
    } else {
      msg = r->Describe();
      if (!r->out.empty()) msg += ": " + r->out.substr(0, 500);
    }
    return Error(Code::kIo, what + " failed: " + msg);
  }
  if (r->out.find_first_not_of(" \n\t\r") == std::string::npos) return Json();
  Json out = Json::parse(r->out, nullptr, false);
  if (out.is_discarded()) return Error(Code::kIo, what + " printed a result that is not JSON: " + r->out.substr(0, 200));
  return out;
}

Result<std::string> CniNetwork::Setup(const std::string& pod_uid, const std::string& netns_path,
                                      const std::vector<PortMapping>& ports) {
  if (!ValidId(pod_uid)) return Error(Code::kInvalid, "network setup: invalid pod uid \"" + pod_uid + "\"");
  if (!IsNetns(netns_path)) {
    return Error(Code::kInvalid, "network setup for pod " + pod_uid + ": " + netns_path + " is not a network namespace");
  }
  auto pod_lock = PodLock(pod_uid);
  std::lock_guard<std::mutex> lock(*pod_lock);

  // Idempotence: the same pod in the same namespace with the same ports keeps
  // its saved IP; anything else is torn down and set up afresh.
  Json saved;
  {
    std::ifstream f(ResultPath(pod_uid));
    if (f) saved = Json::parse(f, nullptr, false);
    if (saved.is_discarded()) saved = Json();
  }
  Json want_ports = PortmapConf(ports)["runtimeConfig"]["portMappings"];
  if (saved.is_object()) {
    std::string id = NetnsId(netns_path);
    if (!id.empty() && saved.value("netns_id", "") == id && saved.value("ports", Json::array()) == want_ports &&
        saved.contains("ip")) {
      // The same namespace, maybe at a new path (a pooled sandbox renamed to
      // its pod's): the record follows it.
      if (saved.value("netns", "") != netns_path) {
        saved["netns"] = netns_path;
        if (auto st = WriteFileAtomic(ResultPath(pod_uid), saved.dump(2)); !st) return st.error();
      }
      return saved["ip"].get<std::string>();
    }
    if (auto st = Del(pod_uid, saved.value("netns", ""), saved); !st) return st.error();
  }

  auto fail = [&](const Error& e, const Json& prev) -> Error {
    Json partial = {{"netns", netns_path}, {"ports", want_ports}, {"result", prev}};
    if (auto st = Del(pod_uid, netns_path, partial); !st) {
      log::Warn("network", "cleanup after a failed setup", {{"pod", pod_uid}, {"error", st.error().message()}});
    }
    return e;
  };

  if (auto r = Exec("ADD", pod_uid, netns_path, LoopbackConf(), Json()); !r) return fail(r.error(), Json());
  std::unique_lock<std::mutex> creating(bridge_mu_, std::defer_lock);
  if (access(("/sys/class/net/" + o_.bridge).c_str(), F_OK) != 0) creating.lock();
  auto bridge = Exec("ADD", pod_uid, netns_path, BridgeConf(), Json());
  if (creating.owns_lock()) creating.unlock();
  if (!bridge) return fail(bridge.error(), Json());
  Json result = *bridge;
  std::string ip;
  if (result.contains("ips") && result["ips"].is_array() && !result["ips"].empty()) {
    ip = result["ips"][0].value("address", "");
    ip = ip.substr(0, ip.find('/'));
  }
  if (ip.empty()) {
    return fail(Error(Code::kInternal, "CNI plugin bridge ADD for pod " + pod_uid + " returned no IP: " + result.dump()),
                result);
  }
  if (!ports.empty()) {
    auto pm = Exec("ADD", pod_uid, netns_path, PortmapConf(ports), result);
    if (!pm) return fail(pm.error(), result);
    if (pm->is_object()) result = *pm;
  }
  Json record = {{"netns", netns_path}, {"netns_id", NetnsId(netns_path)}, {"ports", want_ports}, {"ip", ip},
                 {"result", result}};
  if (auto st = WriteFileAtomic(ResultPath(pod_uid), record.dump(2)); !st) return fail(st.error(), result);
  log::Info("network", "pod attached", {{"pod", pod_uid}, {"ip", ip}, {"bridge", o_.bridge}});
  return ip;
}

void CniNetwork::TeardownMasquerade(const std::string& uid) const {
  // The bridge plugin removes a pod's masquerade rule only while eth0 still
  // exists in the namespace; after the namespace is gone we remove it
  // ourselves: every POSTROUTING rule jumping to the pod's chain, then the chain.
  const std::string chain = MasqChain(o_.network_name, uid);
  process::Options list;
  list.argv = {"iptables", "-w", "-t", "nat", "-L", "POSTROUTING", "-n", "--line-numbers"};
  list.timeout = std::chrono::seconds(10);
  auto r = process::Run(list);
  if (!r || !r->ok()) return;  // no iptables: nothing can have been set up
  std::vector<int> lines;
  std::istringstream in(r->out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    int num = 0;
    std::string target;
    if (words >> num >> target && target == chain) lines.push_back(num);
  }
  std::sort(lines.rbegin(), lines.rend());  // highest first: numbers stay valid
  for (int n : lines) {
    process::Options del;
    del.argv = {"iptables", "-w", "-t", "nat", "-D", "POSTROUTING", std::to_string(n)};
    del.timeout = std::chrono::seconds(10);
    (void)process::Run(del);
  }
  for (const char* op : {"-F", "-X"}) {
    process::Options o;
    o.argv = {"iptables", "-w", "-t", "nat", op, chain};
    o.timeout = std::chrono::seconds(10);
    (void)process::Run(o);  // absent chain: fine
  }
}

Status CniNetwork::Del(const std::string& uid, const std::string& netns, const Json& saved) {
  const std::string ns = IsNetns(netns) ? netns : "";
  Json prev = saved.is_object() ? saved.value("result", Json()) : Json();
  std::vector<PortMapping> ports;
  if (saved.is_object() && saved.contains("ports")) {
    for (const auto& p : saved["ports"]) {
      PortMapping m;
      m.host_port = p.value("hostPort", 0);
      m.container_port = p.value("containerPort", 0);
      m.protocol = p.value("protocol", "tcp");
      m.host_ip = p.value("hostIP", "");
      ports.push_back(m);
    }
  }
  std::vector<std::string> errors;
  // portmap DEL removes the pod's chains by container id, with or without
  // mappings in the request; run it always so a crash between ADD and the
  // result file leaves nothing behind.
  if (auto r = Exec("DEL", uid, ns, PortmapConf(ports), prev); !r) errors.push_back(r.error().message());
  if (auto r = Exec("DEL", uid, ns, BridgeConf(), prev); !r) {
    errors.push_back(r.error().message());
    // The IP must go back to the pool whatever happened to the interface.
    Json ipam = BridgeConf();
    ipam["type"] = "host-local";
    if (auto h = Exec("DEL", uid, "", ipam, Json()); !h) errors.push_back(h.error().message());
  }
  TeardownMasquerade(uid);
  if (!ns.empty()) {
    if (auto r = Exec("DEL", uid, ns, LoopbackConf(), prev); !r) errors.push_back(r.error().message());
  }
  std::error_code ec;
  fs::remove(ResultPath(uid), ec);
  if (!errors.empty()) {
    std::string msg = "network teardown for pod " + uid + ": " + errors[0];
    for (size_t i = 1; i < errors.size(); ++i) msg += "; " + errors[i];
    return Error(Code::kIo, msg);
  }
  return Ok();
}

Status CniNetwork::Teardown(const std::string& pod_uid, const std::string& netns_path) {
  if (!ValidId(pod_uid)) return Error(Code::kInvalid, "network teardown: invalid pod uid \"" + pod_uid + "\"");
  auto pod_lock = PodLock(pod_uid);
  std::unique_lock<std::mutex> lock(*pod_lock);
  Json saved;
  {
    std::ifstream f(ResultPath(pod_uid));
    if (f) saved = Json::parse(f, nullptr, false);
    if (saved.is_discarded()) saved = Json();
  }
  std::string ns = netns_path.empty() && saved.is_object() ? saved.value("netns", "") : netns_path;
  auto st = Del(pod_uid, ns, saved);
  if (st) log::Info("network", "pod detached", {{"pod", pod_uid}});
  lock.unlock();
  pod_lock.reset();
  if (st) ForgetPodLock(pod_uid);
  return st;
}

}  // namespace

Result<std::unique_ptr<Network>> MakeCniNetwork(const NetworkOptions& options) {
  if (options.data_dir.empty()) return Error(Code::kInvalid, "CNI network: no data dir given");
  if (options.bridge.empty() || options.bridge.size() > 15) {
    return Error(Code::kInvalid, "CNI network: bridge name \"" + options.bridge + "\" must be 1 to 15 characters");
  }
  auto n = std::make_unique<CniNetwork>(options);
  if (auto st = n->Init(); !st) return st.error();
  return std::unique_ptr<Network>(std::move(n));
}

}  // namespace bosun::node
