// The image store (node/image_store.h) on disk:
//
//   DIR/blobs/sha256/<hex>   manifests, configs and layer blobs, each checked
//                            against its digest before it is placed here
//   DIR/layers/<hex>/        a layer blob unpacked (named by the blob digest)
//   DIR/index.json           the images: manifest digest → refs, config, layers
//                            (replaced atomically on every change)
//   DIR/tmp/                 downloads and archive contents being checked
//
// A pull or import stages everything under tmp/, checks every digest, then
// moves the blobs in, unpacks missing layers and records the image; a failure
// at any step stores nothing (blobs already placed are kept only if another
// image uses them; GarbageCollect removes the rest).
//
// Locks: gc_mu_ is held shared by pulls and imports and exclusively by
// GarbageCollect, so a collection never removes a blob a pull is about to
// use. mu_ guards the index. Each layer unpacks under its own mutex, and two
// pulls of one reference share one download (inflight_).
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/log.h"
#include "node/image_internal.h"

namespace fs = std::filesystem;

namespace bosun::node {
namespace {

using namespace image_internal;

struct Entry {
  std::vector<std::string> refs;
  std::string config_digest;
  std::vector<std::string> layers;  // blob digests, bottom first
  int64_t size = 0;
  ImageConfig config;
};

// A folder under DIR/tmp, removed when the pull or import ends.
class Staging {
 public:
  explicit Staging(const std::string& tmp_root) {
    std::string tmpl = tmp_root + "/stage-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~Staging() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Store : public ImageStore {
 public:
  explicit Store(ImageStoreOptions options) : opts_(std::move(options)), dir_(opts_.dir) {}

  Status Init() {
    std::error_code ec;
    for (const char* sub : {"blobs/sha256", "layers", "tmp"}) {
      fs::create_directories(dir_ + "/" + sub, ec);
      if (ec) return Error(Code::kIo, "image store " + dir_ + ": cannot create " + sub + ": " + ec.message());
    }
    // Left-overs of a crash: staged downloads and half-unpacked layers. Only
    // old ones: another process (the daemon, `bosun image`) may be working.
    auto stale = [](const fs::directory_entry& e) {
      std::error_code ec2;
      auto age = fs::file_time_type::clock::now() - fs::last_write_time(e.path(), ec2);
      return !ec2 && age > std::chrono::hours(1);
    };
    for (const auto& e : fs::directory_iterator(dir_ + "/tmp", ec)) {
      if (stale(e)) fs::remove_all(e.path(), ec);
    }
    for (const auto& e : fs::directory_iterator(dir_ + "/layers", ec)) {
      if (e.path().filename().string().rfind(".tmp-", 0) == 0 && stale(e)) fs::remove_all(e.path(), ec);
    }
    std::lock_guard<std::mutex> lock(mu_);
    return RefreshLocked();
  }

  // Re-reads index.json when it changed on disk (another process sharing the
  // data folder, e.g. `bosun image import` beside the daemon, wrote it).
  Status RefreshLocked() {
    struct stat st {};
    std::string path = dir_ + "/index.json";
    if (stat(path.c_str(), &st) != 0) {
      images_.clear();
      return Ok();
    }
    if (st.st_ino == index_ino_ && st.st_mtim.tv_sec == index_mtime_.tv_sec &&
        st.st_mtim.tv_nsec == index_mtime_.tv_nsec && st.st_size == index_size_) {
      return Ok();
    }
    auto text = ReadFile(path);
    if (!text) return text.error().Wrap("image store index");
    Json doc = Json::parse(*text, nullptr, false);
    if (!doc.is_object() || !Object::Field(doc, "images").is_array()) {
      return Error(Code::kInvalid, "image store index " + path + " is damaged (not the expected JSON)");
    }
    std::map<std::string, Entry> images;
    for (const Json& j : Object::Field(doc, "images")) {
      std::string digest = j.value("digest", "");
      Entry e;
      e.refs = j.value("refs", std::vector<std::string>{});
      e.config_digest = j.value("config", "");
      e.layers = j.value("layers", std::vector<std::string>{});
      e.size = j.value("size", int64_t{0});
      bool complete = IsDigest(digest) && fs::exists(BlobPath(digest)) && IsDigest(e.config_digest);
      for (const auto& l : e.layers) complete = complete && fs::is_directory(LayerDir(l));
      auto cfg = complete ? ReadFile(BlobPath(e.config_digest)) : Result<std::string>(Error(Code::kNotFound, ""));
      auto parsed = cfg ? ParseImageConfig(*cfg) : Result<ImageConfig>(cfg.error());
      if (!parsed) {
        log::Warn("image", "dropping an incomplete image from the index", {{"digest", digest}});
        continue;
      }
      e.config = *parsed;
      images[digest] = std::move(e);
    }
    images_ = std::move(images);
    index_ino_ = st.st_ino;
    index_mtime_ = st.st_mtim;
    index_size_ = st.st_size;
    return Ok();
  }

  // Holds DIR/index.lock (flock) while a change is read, made and written, so
  // two processes sharing the folder never lose each other's images.
  class FileLock {
   public:
    explicit FileLock(const std::string& path) : fd_(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
      if (fd_ >= 0) flock(fd_, LOCK_EX);
    }
    ~FileLock() {
      if (fd_ >= 0) close(fd_);
    }
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

   private:
    int fd_;
  };

  Result<Image> Get(const std::string& ref) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = RefreshLocked(); !s) return s.error();
    return GetLocked(ref);
  }

  Result<Image> Pull(const std::string& ref, const ProgressFn& progress) override {
    auto r = ParseReference(ref);
    if (!r) return r.error();
    std::string key = r->String();
    std::shared_future<Result<Image>> fut;
    bool leader = false;
    std::promise<Result<Image>> promise;
    {
      std::lock_guard<std::mutex> lock(inflight_mu_);
      auto it = inflight_.find(key);
      if (it != inflight_.end()) {
        fut = it->second;
      } else {
        fut = promise.get_future().share();
        inflight_.emplace(key, fut);
        leader = true;
      }
    }
    if (!leader) return fut.get();
    Result<Image> result = DoPull(*r, progress);
    promise.set_value(result);
    std::lock_guard<std::mutex> lock(inflight_mu_);
    inflight_.erase(key);
    return result;
  }

  Result<Image> Ensure(const std::string& ref, PullPolicy policy, const ProgressFn& progress) override {
    // An import-only image is the one imported, whatever the policy (Always,
    // the default of :latest, cannot pull it).
    if (auto r = ParseReference(ref); r && r->registry == kImportOnlyRegistry) policy = PullPolicy::kIfNotPresent;
    if (policy != PullPolicy::kAlways) {
      auto local = Get(ref);
      if (local || local.error().code() != Code::kNotFound) return local;
      if (policy == PullPolicy::kNever) {
        return Error(Code::kNotFound, "image " + ref +
                                          " is not present on this node and its imagePullPolicy is Never (import it "
                                          "with `bosun image import` or put the archive in the airgap folder)");
      }
    }
    return Pull(ref, progress);
  }

  Result<std::vector<Image>> Import(const std::string& archive_path) override {
    std::shared_lock<std::shared_mutex> gc(gc_mu_);
    Staging staging(dir_ + "/tmp");
    if (staging.path().empty()) return Error(Code::kIo, "image store " + dir_ + ": cannot create a staging folder");
    auto staged = ReadArchive(archive_path, staging.path());
    if (!staged) return staged.error();
    std::vector<Image> out;
    for (const StagedImage& s : *staged) {
      for (const auto& [digest, path] : s.blobs) {
        if (auto st = AdoptBlob(digest, path); !st) return st.error();
      }
      auto img = Commit(s.manifest, s.refs);
      if (!img) return img.error().Wrap(archive_path);
      log::Info("image", "imported", {{"archive", archive_path}, {"digest", img->digest},
                                      {"refs", img->refs.empty() ? "-" : img->refs.front()}});
      out.push_back(*img);
    }
    return out;
  }

  Result<std::vector<Image>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto s = RefreshLocked(); !s) return s.error();
    std::vector<Image> out;
    for (const auto& [digest, e] : images_) out.push_back(ToImage(digest, e));
    std::sort(out.begin(), out.end(), [](const Image& a, const Image& b) {
      std::string ka = a.refs.empty() ? "~" + a.digest : a.refs.front();
      std::string kb = b.refs.empty() ? "~" + b.digest : b.refs.front();
      return ka < kb;
    });
    return out;
  }

  Result<std::vector<std::string>> GarbageCollect(const std::set<std::string>& in_use) override {
    std::unique_lock<std::shared_mutex> gc(gc_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    FileLock file_lock(dir_ + "/index.lock");
    if (auto s = RefreshLocked(); !s) return s.error();
    std::set<std::string> used_digests;
    for (const std::string& u : in_use) {
      if (IsDigest(u)) {
        used_digests.insert(u);
      } else if (auto img = GetLocked(u); img) {
        used_digests.insert(img->digest);
      }
    }
    std::vector<std::string> removed;
    for (auto it = images_.begin(); it != images_.end();) {
      if (used_digests.count(it->first)) {
        ++it;
        continue;
      }
      removed.push_back(it->first);
      it = images_.erase(it);
    }
    if (!removed.empty()) {
      if (auto s = SaveLocked(); !s) return s.error();
    }
    std::set<std::string> keep_blobs, keep_layers;
    for (const auto& [digest, e] : images_) {
      keep_blobs.insert(DigestHex(digest));
      keep_blobs.insert(DigestHex(e.config_digest));
      for (const auto& l : e.layers) {
        keep_blobs.insert(DigestHex(l));
        keep_layers.insert(DigestHex(l));
      }
    }
    std::error_code ec;
    int64_t freed = 0;
    for (const auto& f : fs::directory_iterator(dir_ + "/blobs/sha256", ec)) {
      if (keep_blobs.count(f.path().filename().string())) continue;
      freed += static_cast<int64_t>(f.file_size(ec));
      fs::remove(f.path(), ec);
    }
    for (const auto& d : fs::directory_iterator(dir_ + "/layers", ec)) {
      std::string name = d.path().filename().string();
      if (keep_layers.count(name) || name.rfind(".tmp-", 0) == 0) continue;  // .tmp-: being unpacked
      fs::remove_all(d.path(), ec);
    }
    log::Info("image", "garbage collected", {{"images", std::to_string(removed.size())},
                                             {"blob_bytes", std::to_string(freed)}});
    return removed;
  }

 private:
  std::string BlobPath(const std::string& digest) const { return dir_ + "/blobs/sha256/" + DigestHex(digest); }
  std::string LayerDir(const std::string& digest) const { return dir_ + "/layers/" + DigestHex(digest); }

  Image ToImage(const std::string& digest, const Entry& e) const {
    Image img;
    img.refs = e.refs;
    img.digest = digest;
    img.config_digest = e.config_digest;
    for (const auto& l : e.layers) img.layer_dirs.push_back(LayerDir(l));
    img.config = e.config;
    img.size_bytes = e.size;
    return img;
  }

  Result<Image> GetLocked(const std::string& ref) {
    if (IsDigest(ref)) {
      auto it = images_.find(ref);
      if (it != images_.end()) return ToImage(it->first, it->second);
      return Error(Code::kNotFound, "image " + ref + " is not present on this node");
    }
    auto r = ParseReference(ref);
    if (!r) return r.error();
    std::string key = r->String();
    for (const auto& [digest, e] : images_) {
      if (std::find(e.refs.begin(), e.refs.end(), key) != e.refs.end()) return ToImage(digest, e);
    }
    // name@digest also names a local image of that digest pulled under another name.
    if (!r->digest.empty()) {
      auto it = images_.find(r->digest);
      if (it != images_.end()) return ToImage(it->first, it->second);
    }
    return Error(Code::kNotFound, "image " + key + " is not present on this node");
  }

  Status SaveLocked() {
    Json list = Json::array();
    for (const auto& [digest, e] : images_) {
      list.push_back({{"digest", digest}, {"refs", e.refs}, {"config", e.config_digest},
                      {"layers", e.layers}, {"size", e.size}});
    }
    Json doc = {{"images", list}};
    if (auto s = WriteFileAtomic(dir_ + "/index.json", doc.dump(1)); !s) return s;
    // What we wrote is what we hold: no re-read on the next call.
    struct stat st {};
    if (stat((dir_ + "/index.json").c_str(), &st) == 0) {
      index_ino_ = st.st_ino;
      index_mtime_ = st.st_mtim;
      index_size_ = st.st_size;
    }
    return Ok();
  }

  // Moves a verified staged file into blobs/ (or keeps the copy already there).
  Status AdoptBlob(const std::string& digest, const std::string& path) {
    std::string dest = BlobPath(digest);
    if (fs::exists(dest)) return Ok();
    if (rename(path.c_str(), dest.c_str()) != 0) {
      std::error_code ec;
      fs::copy_file(path, dest + ".part", fs::copy_options::overwrite_existing, ec);
      if (ec || rename((dest + ".part").c_str(), dest.c_str()) != 0) {
        return Error(Code::kIo, "image store: cannot store blob " + digest + ": " + ec.message());
      }
    }
    return Ok();
  }

  std::shared_ptr<std::mutex> LayerLock(const std::string& digest) {
    std::lock_guard<std::mutex> lock(layer_mu_);
    auto& m = layer_locks_[digest];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }

  Status EnsureLayer(const std::string& digest) {
    std::string dest = LayerDir(digest);
    if (fs::is_directory(dest)) return Ok();
    auto m = LayerLock(digest);
    std::lock_guard<std::mutex> lock(*m);
    if (fs::is_directory(dest)) return Ok();
    auto start = std::chrono::steady_clock::now();
    if (auto s = UnpackLayer(BlobPath(digest), dest); !s) return s;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    log::Debug("image", "layer unpacked", {{"layer", digest}, {"ms", std::to_string(ms.count())}});
    return Ok();
  }

  // Records an image whose blobs are all in blobs/: unpacks its layers and
  // names it by `refs` (a reference names one image: it moves off any other).
  Result<Image> Commit(const std::string& manifest_text, const std::vector<std::string>& refs) {
    std::string digest = Sha256(manifest_text);
    if (!fs::exists(BlobPath(digest))) {
      if (auto s = WriteFileAtomic(BlobPath(digest), manifest_text); !s) return s.error();
    }
    auto m = ParseManifest(manifest_text);
    if (!m) return m.error().Wrap("manifest " + digest);
    auto cfg_text = ReadFile(BlobPath(m->config.digest));
    if (!cfg_text) return cfg_text.error().Wrap("config " + m->config.digest);
    auto cfg = ParseImageConfig(*cfg_text);
    if (!cfg) return cfg.error().Wrap("config " + m->config.digest);
    Entry e;
    e.config_digest = m->config.digest;
    e.config = *cfg;
    e.size = static_cast<int64_t>(cfg_text->size());
    for (const auto& l : m->layers) {
      if (auto s = EnsureLayer(l.digest); !s) return s.error();
      std::error_code ec;
      e.size += static_cast<int64_t>(fs::file_size(BlobPath(l.digest), ec));
      e.layers.push_back(l.digest);
    }
    std::lock_guard<std::mutex> lock(mu_);
    FileLock file_lock(dir_ + "/index.lock");
    if (auto s = RefreshLocked(); !s) return s.error();
    auto it = images_.find(digest);
    if (it != images_.end()) e.refs = it->second.refs;
    for (const auto& ref : refs) {
      for (auto& [d, other] : images_) {
        if (d != digest) other.refs.erase(std::remove(other.refs.begin(), other.refs.end(), ref), other.refs.end());
      }
      if (std::find(e.refs.begin(), e.refs.end(), ref) == e.refs.end()) e.refs.push_back(ref);
    }
    images_[digest] = e;
    if (auto s = SaveLocked(); !s) return s.error();
    return ToImage(digest, e);
  }

  Result<RegistryClient::Fetched> FetchManifest(RegistryClient& client, const Reference& r, const std::string& selector) {
    auto f = client.GetManifest(r.repository, selector);
    if (!f) return f.error().Wrap("pulling " + r.String());
    std::string sum = Sha256(f->body);
    if (IsDigest(selector) && sum != selector) {
      return Error(Code::kInvalid, "pulling " + r.String() + ": the registry's manifest does not match digest " +
                                       selector + " (it hashes to " + sum + "); nothing was stored");
    }
    if (IsDigest(f->digest_header) && f->digest_header != sum) {
      return Error(Code::kInvalid, "pulling " + r.String() + ": the manifest does not match the registry's digest " +
                                       f->digest_header + " (it hashes to " + sum + "); nothing was stored");
    }
    return f;
  }

  Result<Image> DoPull(const Reference& r, const ProgressFn& progress) {
    if (r.registry == kImportOnlyRegistry) {
      return Error(Code::kNotFound, r.String() + " is not on this node, and " + kImportOnlyRegistry +
                                        " images are never pulled: import it (`bosun image import FILE`, or the "
                                        "node's airgap folder)");
    }
    std::shared_lock<std::shared_mutex> gc(gc_mu_);
    auto start = std::chrono::steady_clock::now();
    log::Info("image", "pulling", {{"ref", r.String()}});
    RegistryOptions ro{opts_.insecure_registries, opts_.auth_file};
    auto client = RegistryClient::Create(r.registry, ro);
    if (!client) return client.error();
    auto f = FetchManifest(**client, r, r.Selector());
    if (!f) return f.error();
    Json doc = Json::parse(f->body, nullptr, false);
    if (doc.is_discarded()) return Error(Code::kInvalid, "pulling " + r.String() + ": the manifest is not JSON");
    if (IsIndex(f->media_type, doc)) {
      auto pick = PickPlatform(doc);
      if (!pick) return pick.error().Wrap("pulling " + r.String());
      f = FetchManifest(**client, r, pick->digest);
      if (!f) return f.error();
    }
    auto m = ParseManifest(f->body);
    if (!m) return m.error().Wrap("pulling " + r.String());
    Staging staging(dir_ + "/tmp");
    if (staging.path().empty()) return Error(Code::kIo, "image store " + dir_ + ": cannot create a staging folder");
    std::vector<Descriptor> blobs = {m->config};
    blobs.insert(blobs.end(), m->layers.begin(), m->layers.end());
    std::map<std::string, std::string> staged;
    PullProgress p;
    p.ref = r.String();
    p.layers_total = static_cast<int>(m->layers.size());
    int64_t downloaded = 0;
    for (size_t i = 0; i < blobs.size(); i++) {
      const Descriptor& d = blobs[i];
      bool is_layer = i > 0;
      if (fs::exists(BlobPath(d.digest)) || staged.count(d.digest)) {
        if (is_layer) p.layers_done++;
        continue;
      }
      std::string path = staging.path() + "/" + DigestHex(d.digest);
      p.layer = d.digest;
      p.total_bytes = d.size;
      p.done_bytes = 0;
      if (progress) progress(p);
      auto st = (*client)->GetBlob(r.repository, d.digest, path, [&](int64_t done, int64_t) {
        p.done_bytes = done;
        if (progress) progress(p);
      });
      if (!st) return st.error().Wrap("pulling " + r.String());
      auto sum = Sha256File(path);
      if (!sum) return sum.error();
      if (*sum != d.digest) {
        return Error(Code::kInvalid, "pulling " + r.String() + ": blob " + d.digest +
                                         " does not match its digest (the downloaded content hashes to " + *sum +
                                         "); nothing was stored");
      }
      std::error_code ec;
      int64_t size = static_cast<int64_t>(fs::file_size(path, ec));
      if (d.size >= 0 && size != d.size) {
        return Error(Code::kInvalid, "pulling " + r.String() + ": blob " + d.digest + " is " + std::to_string(size) +
                                         " bytes, the manifest says " + std::to_string(d.size) + "; nothing was stored");
      }
      downloaded += size;
      staged[d.digest] = path;
      if (is_layer) p.layers_done++;
      p.done_bytes = size;
      if (progress) progress(p);
      log::Info("image", "blob downloaded", {{"ref", r.String()}, {"blob", d.digest}, {"bytes", std::to_string(size)}});
    }
    for (const auto& [digest, path] : staged) {
      if (auto s = AdoptBlob(digest, path); !s) return s.error();
    }
    auto img = Commit(f->body, {r.String()});
    if (!img) return img.error().Wrap("pulling " + r.String());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    log::Info("image", "pulled", {{"ref", r.String()}, {"digest", img->digest},
                                  {"downloaded_bytes", std::to_string(downloaded)}, {"ms", std::to_string(ms.count())}});
    return img;
  }

  ImageStoreOptions opts_;
  std::string dir_;
  std::shared_mutex gc_mu_;
  std::mutex mu_;
  std::map<std::string, Entry> images_;  // by manifest digest; guarded by mu_
  ino_t index_ino_ = 0;                  // index.json as last read or written
  timespec index_mtime_{};
  off_t index_size_ = 0;
  std::mutex layer_mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> layer_locks_;
  std::mutex inflight_mu_;
  std::map<std::string, std::shared_future<Result<Image>>> inflight_;
};

}  // namespace

Result<std::unique_ptr<ImageStore>> ImageStore::Open(const ImageStoreOptions& options) {
  if (options.dir.empty()) return Error(Code::kInvalid, "image store: no directory given");
  auto store = std::make_unique<Store>(options);
  if (auto s = store->Init(); !s) return s.error();
  return std::unique_ptr<ImageStore>(std::move(store));
}

}  // namespace bosun::node
