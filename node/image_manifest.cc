// OCI and Docker schema-2 manifests, indexes and image configs: the fields the
// store needs, parsed with the checks a hostile document calls for.
#include <sys/utsname.h>

#include <string>

#include "node/image_internal.h"

namespace bosun::node::image_internal {
namespace {

Result<Json> ParseJson(const std::string& text, const char* what) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error(Code::kInvalid, std::string(what) + " is not a JSON object");
  }
  return doc;
}

std::string Str(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

Result<Descriptor> ParseDescriptor(const Json& d, const std::string& where) {
  if (!d.is_object()) return Error(Code::kInvalid, where + " is not a descriptor object");
  Descriptor out;
  out.media_type = Str(d, "mediaType");
  out.digest = Str(d, "digest");
  auto size = d.find("size");
  if (size != d.end() && size->is_number_integer()) out.size = size->get<int64_t>();
  if (!IsDigest(out.digest)) {
    return Error(Code::kInvalid, where + " has digest \"" + out.digest + "\"; only sha256 digests are supported");
  }
  return out;
}

std::vector<std::string> StringList(const Json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const Json& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

bool IsIndex(const std::string& media_type, const Json& doc) {
  std::string t = media_type;
  if (t.empty() || t == "application/json" || t == "application/octet-stream") {
    t = doc.is_object() ? Str(doc, "mediaType") : "";
    // An OCI index may omit mediaType; it has "manifests" where a manifest has "layers".
    if (t.empty() && doc.is_object() && doc.contains("manifests")) return true;
  }
  return t == kOciIndex || t == kDockerList;
}

Result<Manifest> ParseManifest(const std::string& text) {
  auto doc = ParseJson(text, "the image manifest");
  if (!doc) return doc.error();
  std::string mt = Str(*doc, "mediaType");
  if (IsIndex(mt, *doc)) return Error(Code::kInvalid, "expected an image manifest but found an index");
  auto sv = doc->find("schemaVersion");
  if (sv == doc->end() || !sv->is_number_integer() || sv->get<int>() != 2) {
    return Error(Code::kInvalid, "the image manifest is not schemaVersion 2 (Docker schema 1 is not supported)");
  }
  Manifest m;
  auto config = ParseDescriptor(Object::Field(*doc, "config"), "the manifest's config");
  if (!config) return config.error();
  m.config = *config;
  const Json& layers = Object::Field(*doc, "layers");
  if (!layers.is_array()) return Error(Code::kInvalid, "the image manifest has no layers list");
  for (size_t i = 0; i < layers.size(); i++) {
    auto l = ParseDescriptor(layers[i], "layer " + std::to_string(i));
    if (!l) return l.error();
    // Foreign (non-distributable) layers are never served by the registry
    // that holds the manifest; zstd and gzip are read by libarchive.
    if (l->media_type.find("foreign") != std::string::npos ||
        l->media_type.find("nondistributable") != std::string::npos) {
      return Error(Code::kInvalid, "layer " + l->digest + " has media type " + l->media_type +
                                       ", which bosun does not download");
    }
    m.layers.push_back(*l);
  }
  return m;
}

std::pair<std::string, std::string> HostPlatform() {
  utsname u{};
  uname(&u);
  std::string machine = u.machine;
  std::string arch = machine;
  if (machine == "x86_64") arch = "amd64";
  if (machine == "aarch64") arch = "arm64";
  if (machine == "i686" || machine == "i386") arch = "386";
  return {"linux", arch};
}

Result<Descriptor> PickPlatform(const Json& index) {
  const Json& list = Object::Field(index, "manifests");
  if (!list.is_array()) return Error(Code::kInvalid, "the image index has no manifests list");
  auto [os, arch] = HostPlatform();
  std::string seen;
  for (size_t i = 0; i < list.size(); i++) {
    const Json& p = Object::Field(list[i], "platform");
    std::string pos = p.is_object() ? Str(p, "os") : "";
    std::string parch = p.is_object() ? Str(p, "architecture") : "";
    if (pos == os && parch == arch) return ParseDescriptor(list[i], "the index's " + os + "/" + arch + " manifest");
    if (!pos.empty()) seen += (seen.empty() ? "" : ", ") + pos + "/" + parch;
  }
  return Error(Code::kNotFound, "the image has no " + os + "/" + arch + " variant (it has: " +
                                    (seen.empty() ? "none named" : seen) + ")");
}

Result<ImageConfig> ParseImageConfig(const std::string& text) {
  auto doc = ParseJson(text, "the image config");
  if (!doc) return doc.error();
  ImageConfig c;
  const Json& cfg = Object::Field(*doc, "config");
  if (!cfg.is_object()) return c;  // an image without any config (a scratch image) is valid
  c.entrypoint = StringList(cfg, "Entrypoint");
  c.cmd = StringList(cfg, "Cmd");
  c.env = StringList(cfg, "Env");
  c.working_dir = Str(cfg, "WorkingDir");
  c.user = Str(cfg, "User");
  return c;
}

}  // namespace bosun::node::image_internal
