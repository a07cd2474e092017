// node/volumes.cc — emptyDir, configMap, secret and hostPath volumes.
//
// configMap and secret volumes are written as the kubelet's AtomicWriter
// writes them: the files go to a fresh "..<timestamp>.<random>" directory,
// a "..data" symlink is pointed at it with one rename(2), and each top-level
// key is a symlink "key -> ..data/key". A reader sees the old set or the new
// set, never a mix. Secret volumes are a tmpfs mounted on the volume dir
// before anything is written, so secret values never reach a disk.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/log.h"
#include "core/quantity.h"
#include "node/object_data.h"
#include "node/volumes.h"

namespace bosun::node {
namespace {

namespace fs = std::filesystem;

struct FileEntry {
  std::string content;
  mode_t mode = 0644;
};
using Payload = std::map<std::string, FileEntry>;  // relative path → file

std::string Errno() { return std::strerror(errno); }

// Decodes "\040"-style escapes of /proc/self/mountinfo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 1 && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Mount points at or under `dir` (deepest first).
std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string id, parent, devno, root, point;
    if (!(in >> id >> parent >> devno >> root >> point)) continue;
    point = Unescape(point);
    if (point == dir || point.rfind(dir + "/", 0) == 0) out.push_back(point);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

bool IsMountPoint(const std::string& dir) {
  for (const auto& m : MountsUnder(dir)) if (m == dir) return true;
  return false;
}

Status MountTmpfs(const std::string& dir, const std::string& options, const std::string& what) {
  if (IsMountPoint(dir)) return Ok();
  if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    return Error(Code::kIo, what + ": cannot mount a tmpfs on " + dir + ": " + Errno());
  }
  return Ok();
}

// A key or item path: relative, no "..", no empty element.
bool SafeRelPath(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.rfind("..", 0) == 0) return false;
  std::istringstream in(p);
  std::string el;
  while (std::getline(in, el, '/')) if (el.empty() || el == "..") return false;
  return p.back() != '/';
}

mode_t ModeOf(const Json& v, mode_t fallback) {
  return v.is_number_integer() ? static_cast<mode_t>(v.get<int64_t>() & 07777) : fallback;
}

// The files of a configMap/secret volume source from the object's keys.
Result<Payload> BuildPayload(const std::map<std::string, std::string>& data, const Json& source,
                             mode_t default_mode_fallback, const std::string& what) {
  const mode_t def = ModeOf(Object::Field(source, "defaultMode"), default_mode_fallback);
  const bool optional = Object::Field(source, "optional").is_boolean() && source["optional"].get<bool>();
  Payload p;
  const Json& items = Object::Field(source, "items");
  if (items.is_array() && !items.empty()) {
    for (const auto& it : items) {
      std::string key = it.value("key", ""), path = it.value("path", "");
      if (!SafeRelPath(path)) return Error(Code::kInvalid, what + ": item path \"" + path + "\" must be relative without ..");
      auto d = data.find(key);
      if (d == data.end()) {
        if (optional) continue;
        return Error(Code::kNotFound, what + ": key \"" + key + "\" not found");
      }
      p[path] = FileEntry{d->second, ModeOf(Object::Field(it, "mode"), def)};
    }
  } else {
    for (const auto& [k, v] : data) {
      if (!SafeRelPath(k) || k.find('/') != std::string::npos) return Error(Code::kInvalid, what + ": invalid key \"" + k + "\"");
      p[k] = FileEntry{v, def};
    }
  }
  return p;
}

// The current projection of `dir` (through ..data), or nullopt.
std::optional<Payload> ReadProjection(const std::string& dir) {
  std::error_code ec;
  fs::path data = fs::path(dir) / "..data";
  if (!fs::is_symlink(data, ec)) return std::nullopt;
  fs::path real = fs::path(dir) / fs::read_symlink(data, ec);
  if (ec) return std::nullopt;
  Payload p;
  for (auto it = fs::recursive_directory_iterator(real, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::ifstream f(it->path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    struct stat st;
    if (stat(it->path().c_str(), &st) != 0) return std::nullopt;
    p[fs::relative(it->path(), real).string()] = FileEntry{ss.str(), static_cast<mode_t>(st.st_mode & 07777)};
  }
  if (ec) return std::nullopt;
  return p;
}

bool SamePayload(const Payload& a, const Payload& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if (i->first != j->first || i->second.content != j->second.content || i->second.mode != j->second.mode) return false;
  }
  return true;
}

Status WriteFile(const std::string& path, const FileEntry& e) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error(Code::kIo, "cannot create " + path + ": " + Errno());
  size_t off = 0;
  while (off < e.content.size()) {
    ssize_t n = write(fd, e.content.data() + off, e.content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = Errno();
      close(fd);
      return Error(Code::kIo, "cannot write " + path + ": " + why);
    }
    off += static_cast<size_t>(n);
  }
  fchmod(fd, e.mode);
  close(fd);
  return Ok();
}

// Writes `p` into `dir` atomically (see the file comment). Returns whether
// anything changed.
Result<bool> Project(const std::string& dir, const Payload& p, const std::string& what) {
  if (auto cur = ReadProjection(dir); cur && SamePayload(*cur, p)) return false;
  std::error_code ec;
  fs::path base(dir);
  char stamp[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof(stamp), "..%Y_%m_%d_%H_%M_%S.XXXXXX", &tm);
  std::string ts_path = (base / stamp).string();
  if (mkdtemp(ts_path.data()) == nullptr) return Error(Code::kIo, what + ": cannot create a dir in " + dir + ": " + Errno());
  chmod(ts_path.c_str(), 0755);
  const std::string ts_name = fs::path(ts_path).filename().string();
  for (const auto& [rel, e] : p) {
    fs::path target = fs::path(ts_path) / rel;
    fs::create_directories(target.parent_path(), ec);
    if (ec) return Error(Code::kIo, what + ": cannot create " + target.parent_path().string() + ": " + ec.message());
    if (auto st = WriteFile(target.string(), e); !st) return st.error().Wrap(what);
  }
  // ..data_tmp → new dir, renamed over ..data: the one atomic step.
  fs::path tmp_link = base / "..data_tmp";
  fs::remove(tmp_link, ec);
  if (symlink(ts_name.c_str(), tmp_link.c_str()) != 0) return Error(Code::kIo, what + ": cannot symlink in " + dir + ": " + Errno());
  if (rename(tmp_link.c_str(), (base / "..data").c_str()) != 0) {
    return Error(Code::kIo, what + ": cannot swap ..data in " + dir + ": " + Errno());
  }
  // Top-level names: a symlink each into ..data; stale ones removed.
  std::set<std::string> top;
  for (const auto& [rel, e] : p) top.insert(rel.substr(0, rel.find('/')));
  for (const auto& name : top) {
    fs::path link = base / name;
    if (fs::is_symlink(link, ec)) continue;
    if (symlink(("..data/" + name).c_str(), link.c_str()) != 0) {
      return Error(Code::kIo, what + ": cannot link " + link.string() + ": " + Errno());
    }
  }
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("..", 0) == 0) {
      if (name != "..data" && name != ts_name && entry.is_directory(ec) && !entry.is_symlink(ec)) fs::remove_all(entry.path(), ec);
      continue;
    }
    if (!top.count(name) && entry.is_symlink(ec)) fs::remove(entry.path(), ec);
  }
  return true;
}

Status CheckHostPath(const std::string& path, const std::string& type, const std::string& what) {
  struct stat st;
  bool exists = lstat(path.c_str(), &st) == 0 && (S_ISLNK(st.st_mode) ? stat(path.c_str(), &st) == 0 : true);
  auto bad = [&](const std::string& why) { return Error(Code::kInvalid, what + ": " + path + " " + why + " (type " + type + ")"); };
  if (type.empty()) return Ok();
  if (type == "DirectoryOrCreate") {
    if (!exists) {
      std::error_code ec;
      fs::create_directories(path, ec);
      if (ec) return Error(Code::kIo, what + ": cannot create " + path + ": " + ec.message());
      chmod(path.c_str(), 0755);
      return Ok();
    }
    return S_ISDIR(st.st_mode) ? Ok() : bad("exists and is not a directory");
  }
  if (type == "FileOrCreate") {
    if (!exists) {
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return Error(Code::kIo, what + ": cannot create " + path + ": " + Errno());
      close(fd);
      return Ok();
    }
    return S_ISREG(st.st_mode) ? Ok() : bad("exists and is not a file");
  }
  if (!exists) return bad("does not exist");
  if (type == "Directory") return S_ISDIR(st.st_mode) ? Ok() : bad("is not a directory");
  if (type == "File") return S_ISREG(st.st_mode) ? Ok() : bad("is not a file");
  if (type == "Socket") return S_ISSOCK(st.st_mode) ? Ok() : bad("is not a socket");
  if (type == "CharDevice") return S_ISCHR(st.st_mode) ? Ok() : bad("is not a character device");
  if (type == "BlockDevice") return S_ISBLK(st.st_mode) ? Ok() : bad("is not a block device");
  return Error(Code::kInvalid, what + ": unknown hostPath type \"" + type + "\"");
}

bool ValidUid(const std::string& uid) {
  return !uid.empty() && uid.find('/') == std::string::npos && uid != "." && uid != "..";
}

}  // namespace

VolumeManager::VolumeManager(std::string pods_dir) {
  // Absolute and normalised: mount points are compared with /proc/self/mountinfo.
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(pods_dir, ec), ec);
  pods_dir_ = ec ? pods_dir : p.string();
  while (pods_dir_.size() > 1 && pods_dir_.back() == '/') pods_dir_.pop_back();
}

namespace {

// Projects one configMap/secret volume into `dir`; returns whether it changed.
Result<bool> ProjectObjectVolume(const Object& pod, const Json& vol, const std::string& dir, const ObjectFetcher& fetch) {
  const bool secret = Object::Field(vol, "secret").is_object();
  const Json& src = secret ? vol["secret"] : vol["configMap"];
  const std::string kind = secret ? "Secret" : "ConfigMap";
  const std::string obj_name = src.value(secret ? "secretName" : "name", "");
  const std::string what = "volume \"" + vol.value("name", "") + "\" (" + kind + " " + pod.namespace_() + "/" + obj_name + ")";
  const bool optional = Object::Field(src, "optional").is_boolean() && src["optional"].get<bool>();
  std::map<std::string, std::string> keys;
  auto obj = fetch ? fetch(kind, pod.namespace_(), obj_name) : Result<Object>(Error(Code::kNotFound, "no fetcher"));
  if (!obj) {
    if (!(optional && obj.error().code() == Code::kNotFound)) return obj.error().Wrap(what);
  } else {
    auto k = KeysOf(*obj, secret, what);
    if (!k) return k.error();
    keys = std::move(*k);
  }
  auto payload = BuildPayload(keys, src, secret ? 0400 : 0644, what);
  if (!payload) return payload.error();
  return Project(dir, *payload, what);
}

}  // namespace

Result<std::map<std::string, std::string>> VolumeManager::Setup(const Object& pod, const ObjectFetcher& fetch) {
  const std::string uid = pod.uid();
  if (!ValidUid(uid)) return Error(Code::kInvalid, "volumes: pod " + pod.Key() + " has no valid uid");
  std::map<std::string, std::string> paths;
  const std::string base = pods_dir_ + "/" + uid + "/volumes";
  const Json& vols = Object::Field(pod.spec(), "volumes");
  if (!vols.is_array()) return paths;
  for (const auto& vol : vols) {
    const std::string name = vol.value("name", "");
    const std::string what = "pod " + pod.Key() + " volume \"" + name + "\"";
    if (!SafeRelPath(name) || name.find('/') != std::string::npos) return Error(Code::kInvalid, what + ": invalid name");
    const std::string dir = base + "/" + name;
    std::error_code ec;
    if (const Json& hp = Object::Field(vol, "hostPath"); hp.is_object()) {
      std::string path = hp.value("path", "");
      if (path.empty() || path[0] != '/') return Error(Code::kInvalid, what + ": hostPath.path must be absolute");
      if (auto st = CheckHostPath(path, hp.value("type", ""), what); !st) return st.error();
      paths[name] = path;
      continue;
    }
    fs::create_directories(dir, ec);
    if (ec) return Error(Code::kIo, what + ": cannot create " + dir + ": " + ec.message());
    if (const Json& ed = Object::Field(vol, "emptyDir"); ed.is_object()) {
      chmod(dir.c_str(), 0777);
      if (ed.value("medium", "") == "Memory") {
        std::string opts = "mode=0777";
        if (const Json& lim = Object::Field(ed, "sizeLimit"); lim.is_string()) {
          auto q = Quantity::Parse(lim.get<std::string>());
          if (!q) return q.error().Wrap(what + ": sizeLimit");
          if (q->Value() > 0) opts += ",size=" + std::to_string(q->Value());
        }
        if (auto st = MountTmpfs(dir, opts, what); !st) return st.error();
      }
    } else if (Object::Field(vol, "secret").is_object() || Object::Field(vol, "configMap").is_object()) {
      if (Object::Field(vol, "secret").is_object()) {
        // Mounted before a single byte is written: secrets live in memory only.
        if (auto st = MountTmpfs(dir, "mode=0755", what); !st) return st.error();
      }
      auto changed = ProjectObjectVolume(pod, vol, dir, fetch);
      if (!changed) return changed.error().code() == Code::kNotFound ? changed.error() : changed.error().Wrap("pod " + pod.Key());
    } else {
      return Error(Code::kInvalid, what + ": volume type not supported (emptyDir, configMap, secret and hostPath are)");
    }
    paths[name] = dir;
  }
  return paths;
}

Result<bool> VolumeManager::Refresh(const Object& pod, const ObjectFetcher& fetch) {
  const std::string uid = pod.uid();
  if (!ValidUid(uid)) return Error(Code::kInvalid, "volumes: pod " + pod.Key() + " has no valid uid");
  bool changed = false;
  const Json& vols = Object::Field(pod.spec(), "volumes");
  if (!vols.is_array()) return false;
  for (const auto& vol : vols) {
    const bool secret = Object::Field(vol, "secret").is_object();
    if (!secret && !Object::Field(vol, "configMap").is_object()) continue;
    const std::string dir = pods_dir_ + "/" + uid + "/volumes/" + vol.value("name", "");
    if (secret && !IsMountPoint(dir)) {
      return Error(Code::kIo, "pod " + pod.Key() + " volume \"" + vol.value("name", "") + "\": not set up (no tmpfs at " + dir + ")");
    }
    auto c = ProjectObjectVolume(pod, vol, dir, fetch);
    if (!c) return c.error().Wrap("pod " + pod.Key());
    if (*c) {
      changed = true;
      log::Info("volumes", "volume updated", {{"pod", pod.Key()}, {"volume", vol.value("name", "")}});
    }
  }
  return changed;
}

Result<std::vector<Mount>> VolumeManager::MountsFor(const Object& pod, const std::string& container_name,
                                                    const std::map<std::string, std::string>& volume_paths) const {
  const Json* container = nullptr;
  for (const char* list : {"containers", "initContainers"}) {
    const Json& cs = Object::Field(pod.spec(), list);
    if (!cs.is_array()) continue;
    for (const auto& c : cs) if (c.value("name", "") == container_name) container = &c;
  }
  if (container == nullptr) return Error(Code::kNotFound, "pod " + pod.Key() + " has no container \"" + container_name + "\"");
  std::vector<Mount> mounts;
  const Json& vms = Object::Field(*container, "volumeMounts");
  if (!vms.is_array()) return mounts;
  for (const auto& vm : vms) {
    const std::string name = vm.value("name", "");
    const std::string what = "container \"" + container_name + "\" volumeMount \"" + name + "\"";
    auto p = volume_paths.find(name);
    if (p == volume_paths.end()) return Error(Code::kNotFound, what + ": the pod has no such volume");
    Mount m;
    m.destination = vm.value("mountPath", "");
    if (m.destination.empty() || m.destination[0] != '/') return Error(Code::kInvalid, what + ": mountPath must be absolute");
    m.read_only = Object::Field(vm, "readOnly").is_boolean() && vm["readOnly"].get<bool>();
    m.source = p->second;
    const std::string sub = vm.value("subPath", "");
    if (!sub.empty()) {
      if (!SafeRelPath(sub)) return Error(Code::kInvalid, what + ": subPath \"" + sub + "\" must be relative without ..");
      std::error_code ec;
      fs::path full = fs::path(p->second) / sub;
      if (!fs::exists(full, ec)) {
        fs::create_directories(full, ec);
        if (ec) return Error(Code::kIo, what + ": cannot create " + full.string() + ": " + ec.message());
      }
      // Resolve symlinks (configMap keys are links into ..data) and refuse a
      // subPath that escapes its volume.
      fs::path real = fs::canonical(full, ec);
      fs::path root = fs::canonical(p->second, ec);
      if (ec) return Error(Code::kIo, what + ": cannot resolve " + full.string() + ": " + ec.message());
      std::string r = real.string(), rt = root.string();
      if (r != rt && r.rfind(rt + "/", 0) != 0) return Error(Code::kInvalid, what + ": subPath \"" + sub + "\" leaves the volume");
      m.source = r;
    }
    mounts.push_back(std::move(m));
  }
  return mounts;
}

Status VolumeManager::Teardown(const std::string& pod_uid) {
  if (!ValidUid(pod_uid)) return Error(Code::kInvalid, "volumes teardown: invalid pod uid \"" + pod_uid + "\"");
  const std::string dir = pods_dir_ + "/" + pod_uid;
  for (const auto& m : MountsUnder(dir)) {
    if (umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return Error(Code::kIo, "volumes teardown of pod " + pod_uid + ": cannot unmount " + m + ": " + Errno());
    }
  }
  // Never delete through a mount that is still there (it could be a host dir).
  if (!MountsUnder(dir).empty()) {
    return Error(Code::kIo, "volumes teardown of pod " + pod_uid + ": " + MountsUnder(dir)[0] + " is still mounted");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);  // does not follow symlinks: hostPath contents are never reached
  if (ec) return Error(Code::kIo, "volumes teardown of pod " + pod_uid + ": cannot remove " + dir + ": " + ec.message());
  return Ok();
}

}  // namespace bosun::node
