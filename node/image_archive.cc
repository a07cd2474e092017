// Image archives: an OCI image layout packed as a tar (index.json, oci-layout,
// blobs/sha256/…; what umoci, skopeo's oci-archive and `docker save` ≥ 25
// write) and the older `docker save` form (manifest.json with RepoTags, layers
// as <id>/layer.tar). Every digest is checked before an image is returned.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/log.h"
#include "node/image_internal.h"

namespace fs = std::filesystem;

namespace bosun::node::image_internal {
namespace {

// Relative path of an entry, "" for the archive root; nullopt-like error when
// it leaves the archive.
Result<std::string> Clean(const std::string& base, const std::string& name) {
  std::vector<std::string> parts;
  if (!base.empty()) {
    std::stringstream b(base);
    std::string c;
    while (std::getline(b, c, '/')) {
      if (!c.empty() && c != ".") parts.push_back(c);
    }
  }
  std::stringstream ss(name);
  std::string comp;
  while (std::getline(ss, comp, '/')) {
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (parts.empty()) return Error(Code::kInvalid, "entry \"" + name + "\" leaves the archive");
      parts.pop_back();
      continue;
    }
    parts.push_back(comp);
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

Status ExtractFiles(const std::string& archive_path, const std::string& staging) {
  archive* a = archive_read_new();
  std::unique_ptr<archive, int (*)(archive*)> guard(a, archive_read_free);
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Error(Code::kInvalid, std::string("cannot read it as a tar archive: ") + archive_error_string(a));
  }
  std::vector<std::pair<std::string, std::string>> symlinks;  // entry → target
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Error(Code::kInvalid, std::string("not a valid tar archive: ") + archive_error_string(a));
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    auto rel = Clean("", name);
    if (!rel) return rel.error();
    if (rel->empty()) continue;
    fs::path path = fs::path(staging) / *rel;
    std::error_code ec;
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        fs::create_directories(path, ec);
        break;
      case AE_IFREG: {
        fs::create_directories(path.parent_path(), ec);
        int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) return Error(Code::kIo, path.string() + ": " + std::strerror(errno));
        r = archive_read_data_into_fd(a, fd);
        close(fd);
        if (r < ARCHIVE_WARN) return Error(Code::kInvalid, "entry \"" + name + "\": " + archive_error_string(a));
        break;
      }
      case AE_IFLNK:
        if (archive_entry_symlink(e) != nullptr) symlinks.emplace_back(*rel, archive_entry_symlink(e));
        break;
      default:
        break;  // devices, fifos: no part of an image archive
    }
  }
  // Old `docker save` links a repeated layer to its first copy; the copy is
  // linked in the staging folder, never followed outside it.
  for (const auto& [entry, target] : symlinks) {
    if (!target.empty() && target[0] == '/') {
      return Error(Code::kInvalid, "entry \"" + entry + "\" is a symlink to an absolute path");
    }
    auto resolved = Clean(fs::path(entry).parent_path().string(), target);
    if (!resolved) return resolved.error();
    fs::path from = fs::path(staging) / *resolved;
    fs::path to = fs::path(staging) / entry;
    std::error_code ec;
    fs::create_directories(to.parent_path(), ec);
    if (fs::is_regular_file(fs::symlink_status(from)) && link(from.c_str(), to.c_str()) != 0) {
      return Error(Code::kIo, to.string() + ": " + std::strerror(errno));
    }
  }
  return Ok();
}

std::vector<std::string> RefsOf(const Json& descriptor) {
  std::vector<std::string> out;
  const Json& ann = Object::Field(descriptor, "annotations");
  if (!ann.is_object()) return out;
  std::string name;
  for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
    auto it = ann.find(key);
    if (it != ann.end() && it->is_string()) {
      name = it->get<std::string>();
      break;
    }
  }
  // A bare tag ("1", "latest") names no repository: the image is kept, by digest only.
  if (name.empty() || (name.find('/') == std::string::npos && name.find(':') == std::string::npos)) {
    if (!name.empty()) {
      log::Warn("image", "archive names an image only by tag; it is imported by digest", {{"tag", name}});
    }
    return out;
  }
  auto ref = NormalizeReference(name);
  if (ref) {
    out.push_back(*ref);
  } else {
    log::Warn("image", "archive names an image with an invalid reference", {{"ref", name}});
  }
  return out;
}

class OciLayout {
 public:
  explicit OciLayout(std::string root) : root_(std::move(root)) {}

  Result<std::vector<StagedImage>> Read() {
    auto text = ReadFile(root_ + "/index.json");
    if (!text) return text.error();
    Json index = Json::parse(*text, nullptr, false);
    if (index.is_discarded() || !Object::Field(index, "manifests").is_array()) {
      return Error(Code::kInvalid, "index.json is not an OCI image index");
    }
    for (const Json& d : Object::Field(index, "manifests")) {
      if (auto s = Visit(d, RefsOf(d), 0); !s) return s.error();
    }
    return std::move(images_);
  }

 private:
  // The staged file of a blob, its content checked against the digest.
  Result<std::string> Blob(const Descriptor& d) {
    std::string path = root_ + "/blobs/sha256/" + DigestHex(d.digest);
    if (verified_.count(d.digest)) return path;
    if (!fs::is_regular_file(path)) return Error(Code::kInvalid, "blob " + d.digest + " is missing from the archive");
    auto sum = Sha256File(path);
    if (!sum) return sum.error();
    if (*sum != d.digest) {
      return Error(Code::kInvalid, "blob " + d.digest + " does not match its digest (its content hashes to " + *sum + ")");
    }
    if (d.size >= 0 && static_cast<int64_t>(fs::file_size(path)) != d.size) {
      return Error(Code::kInvalid, "blob " + d.digest + " is " + std::to_string(fs::file_size(path)) +
                                       " bytes, the manifest says " + std::to_string(d.size));
    }
    verified_.insert(d.digest);
    return path;
  }

  Status Visit(const Json& dj, const std::vector<std::string>& refs, int depth) {
    if (depth > 4) return Error(Code::kInvalid, "image indexes nested too deep");
    Descriptor d;
    d.digest = Object::Field(dj, "digest").is_string() ? Object::Field(dj, "digest").get<std::string>() : "";
    d.media_type = Object::Field(dj, "mediaType").is_string() ? Object::Field(dj, "mediaType").get<std::string>() : "";
    d.size = Object::Field(dj, "size").is_number_integer() ? Object::Field(dj, "size").get<int64_t>() : -1;
    if (!IsDigest(d.digest)) return Error(Code::kInvalid, "index.json names a manifest without a sha256 digest");
    auto path = Blob(d);
    if (!path) return path.error();
    auto text = ReadFile(*path, 4u << 20);
    if (!text) return text.error();
    Json doc = Json::parse(*text, nullptr, false);
    if (doc.is_discarded()) return Error(Code::kInvalid, "manifest " + d.digest + " is not JSON");
    if (IsIndex(d.media_type, doc)) {
      auto pick = PickPlatform(doc);
      if (!pick) return pick.error().Wrap("index " + d.digest);
      Json pj = {{"digest", pick->digest}, {"mediaType", pick->media_type}, {"size", pick->size}};
      return Visit(pj, refs, depth + 1);
    }
    auto m = ParseManifest(*text);
    if (!m) return m.error().Wrap("manifest " + d.digest);
    StagedImage img;
    img.refs = refs;
    img.manifest = *text;
    for (const Descriptor& b : std::vector<Descriptor>{m->config}) {
      auto p = Blob(b);
      if (!p) return p.error();
      img.blobs[b.digest] = *p;
    }
    for (const Descriptor& b : m->layers) {
      auto p = Blob(b);
      if (!p) return p.error();
      img.blobs[b.digest] = *p;
    }
    images_.push_back(std::move(img));
    return Ok();
  }

  std::string root_;
  std::set<std::string> verified_;
  std::vector<StagedImage> images_;
};

std::string LayerMediaType(const std::string& path) {
  unsigned char magic[4] = {0, 0, 0, 0};
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, magic, sizeof magic) < 0) magic[0] = 0;
    close(fd);
  }
  if (magic[0] == 0x1f && magic[1] == 0x8b) return kOciLayerGzip;
  if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return kOciLayer;
}

// "…/<64 hex>[.json]" or "blobs/sha256/<hex>": the digest a file name claims.
std::string ClaimedDigest(const std::string& rel) {
  std::string base = fs::path(rel).filename().string();
  if (base.size() > 5 && base.substr(base.size() - 5) == ".json") base = base.substr(0, base.size() - 5);
  std::string d = "sha256:" + base;
  return IsDigest(d) ? d : "";
}

Result<std::vector<StagedImage>> ReadDockerSave(const std::string& root) {
  auto text = ReadFile(root + "/manifest.json");
  if (!text) return text.error();
  Json list = Json::parse(*text, nullptr, false);
  if (list.is_discarded() || !list.is_array()) return Error(Code::kInvalid, "manifest.json is not a list of images");
  std::vector<StagedImage> out;
  for (const Json& entry : list) {
    const Json& cfg_name = Object::Field(entry, "Config");
    const Json& layers = Object::Field(entry, "Layers");
    if (!cfg_name.is_string() || !layers.is_array()) {
      return Error(Code::kInvalid, "manifest.json: an entry lacks Config or Layers");
    }
    std::string cfg_rel = cfg_name.get<std::string>();
    auto cfg_path = Clean("", cfg_rel);
    if (!cfg_path) return cfg_path.error();
    auto cfg_text = ReadFile(root + "/" + *cfg_path);
    if (!cfg_text) return cfg_text.error().Wrap("config " + cfg_rel);
    std::string cfg_digest = Sha256(*cfg_text);
    if (std::string claimed = ClaimedDigest(cfg_rel); !claimed.empty() && claimed != cfg_digest) {
      return Error(Code::kInvalid, "config " + cfg_rel + " does not match its digest (it hashes to " + cfg_digest + ")");
    }
    Json cfg = Json::parse(*cfg_text, nullptr, false);
    const Json& diff_ids = Object::Field(Object::Field(cfg, "rootfs"), "diff_ids");
    if (!diff_ids.is_array() || diff_ids.size() != layers.size()) {
      return Error(Code::kInvalid, "config " + cfg_rel + " lists " +
                                       std::to_string(diff_ids.is_array() ? diff_ids.size() : 0) +
                                       " layer diff_ids but the archive has " + std::to_string(layers.size()) + " layers");
    }
    StagedImage img;
    img.blobs[cfg_digest] = root + "/" + *cfg_path;
    Json manifest = {{"schemaVersion", 2},
                     {"mediaType", kOciManifest},
                     {"config", {{"mediaType", kOciConfig}, {"digest", cfg_digest}, {"size", cfg_text->size()}}},
                     {"layers", Json::array()}};
    for (size_t i = 0; i < layers.size(); i++) {
      if (!layers[i].is_string()) return Error(Code::kInvalid, "manifest.json: a layer is not a path");
      std::string lrel = layers[i].get<std::string>();
      auto lpath = Clean("", lrel);
      if (!lpath) return lpath.error();
      std::string path = root + "/" + *lpath;
      if (!fs::is_regular_file(path)) return Error(Code::kInvalid, "layer " + lrel + " is missing from the archive");
      auto diff = DiffIdOfFile(path);
      if (!diff) return diff.error();
      if (!diff_ids[i].is_string() || *diff != diff_ids[i].get<std::string>()) {
        return Error(Code::kInvalid, "layer " + lrel + " does not match the config's diff_id " +
                                         (diff_ids[i].is_string() ? diff_ids[i].get<std::string>() : "?") +
                                         " (its content hashes to " + *diff + ")");
      }
      auto blob = Sha256File(path);
      if (!blob) return blob.error();
      if (std::string claimed = ClaimedDigest(lrel); !claimed.empty() && lrel.find("blobs/") != std::string::npos &&
                                                     claimed != *blob) {
        return Error(Code::kInvalid, "layer " + lrel + " does not match its digest (it hashes to " + *blob + ")");
      }
      manifest["layers"].push_back(
          {{"mediaType", LayerMediaType(path)}, {"digest", *blob}, {"size", static_cast<int64_t>(fs::file_size(path))}});
      img.blobs[*blob] = path;
    }
    for (const Json& tag : Object::Field(entry, "RepoTags").is_array() ? Object::Field(entry, "RepoTags") : Json::array()) {
      if (!tag.is_string()) continue;
      auto ref = NormalizeReference(tag.get<std::string>());
      if (ref) img.refs.push_back(*ref);
    }
    img.manifest = manifest.dump();
    out.push_back(std::move(img));
  }
  return out;
}

}  // namespace

Result<std::vector<StagedImage>> ReadArchive(const std::string& archive_path, const std::string& staging) {
  if (!fs::is_regular_file(archive_path)) {
    return Error(Code::kNotFound, archive_path + ": no such file");
  }
  if (auto s = ExtractFiles(archive_path, staging); !s) return s.error().Wrap(archive_path);
  Result<std::vector<StagedImage>> r = Error(Code::kInternal, "");
  if (fs::exists(staging + "/index.json")) {
    r = OciLayout(staging).Read();
  } else if (fs::exists(staging + "/manifest.json")) {
    r = ReadDockerSave(staging);
  } else {
    return Error(Code::kInvalid, archive_path +
                                     ": neither an OCI image layout (no index.json) nor a docker save archive "
                                     "(no manifest.json)");
  }
  if (!r) return r.error().Wrap(archive_path);
  if (r->empty()) return Error(Code::kInvalid, archive_path + ": the archive holds no images");
  return r;
}

}  // namespace bosun::node::image_internal
