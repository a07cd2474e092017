// node/image_internal.h — the pieces of the image store (node/image_store.h),
// each in its own file: references (image_reference.cc), digests and layer
// unpacking (image_unpack.cc), archives (image_archive.cc) and the registry
// client (image_registry.cc). Not a public interface: only node/image_*.cc and
// tests/node/image_*_test.cc include it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/object.h"  // Json
#include "core/result.h"
#include "node/image_store.h"

namespace bosun::node::image_internal {

// ---- references (image_reference.cc) ----

// A parsed, normalized reference: "docker.io/library/busybox:latest" has
// registry "docker.io", repository "library/busybox", tag "latest".
struct Reference {
  std::string registry;
  std::string repository;
  std::string tag;     // empty when only a digest names it
  std::string digest;  // "sha256:…" or empty
  // "registry/repository"
  std::string Name() const { return registry + "/" + repository; }
  // The normalized form: name[:tag][@digest].
  std::string String() const;
  // What the registry's manifests endpoint takes: the digest if any, else the tag.
  std::string Selector() const { return digest.empty() ? tag : digest; }
};
Result<Reference> ParseReference(const std::string& ref);

// "sha256:" followed by 64 lowercase hex digits.
bool IsDigest(std::string_view s);
// The hex part of a "sha256:…" digest.
inline std::string DigestHex(const std::string& digest) { return digest.size() > 7 ? digest.substr(7) : digest; }

// ---- digests, files and layers (image_unpack.cc) ----

// "sha256:<hex>" of bytes, of a file, and of a file's decompressed content
// (the DiffID of a gzip or plain tar layer).
std::string Sha256(std::string_view data);
Result<std::string> Sha256File(const std::string& path);
Result<std::string> DiffIdOfFile(const std::string& path);

Result<std::string> ReadFile(const std::string& path, size_t max_bytes = 64u << 20);
// Writes to PATH.tmp-PID, fsyncs, renames over PATH: readers see the old or
// the new content, never a part.
Status WriteFileAtomic(const std::string& path, const std::string& data);

// Unpacks a layer blob (tar, gzip or any compression libarchive reads) into
// `dest`, which must not exist: the layer goes to a temporary directory beside
// it that is renamed into place when complete, so a crash never leaves half a
// layer. Modes, owners (when root), times, xattrs, symlinks and hard links are
// kept; "x/.wh.NAME" becomes the overlayfs whiteout x/NAME (a 0:0 character
// device) and "x/.wh..wh..opq" sets trusted.overlay.opaque=y on x. An entry
// whose path leaves the layer (absolute, "..", or through a symlink) fails the
// unpack with a message naming it.
Status UnpackLayer(const std::string& blob_path, const std::string& dest);

// ---- manifests ----

inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = -1;
};
struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};
// Whether a manifest document (by its media type, or its own "mediaType"
// field when the type is empty) is an index / manifest list.
bool IsIndex(const std::string& media_type, const Json& doc);
Result<Manifest> ParseManifest(const std::string& text);
// The manifest of an index for this machine's platform (linux/amd64 on
// x86_64), or kNotFound listing the platforms it has.
Result<Descriptor> PickPlatform(const Json& index);
// The platform bosun runs images for: {"linux", "amd64"}.
std::pair<std::string, std::string> HostPlatform();
Result<ImageConfig> ParseImageConfig(const std::string& text);

// ---- archives (image_archive.cc) ----

// One image found in an archive, its blobs verified and staged as files.
struct StagedImage {
  std::vector<std::string> refs;               // normalized
  std::string manifest;                        // the manifest document
  std::map<std::string, std::string> blobs;    // digest → verified file (config and layers)
};
// Reads an OCI layout or `docker save` archive (tar, optionally compressed)
// into `staging` (an empty directory) and returns its images with every
// digest checked.
Result<std::vector<StagedImage>> ReadArchive(const std::string& archive_path, const std::string& staging);

// ---- registry (image_registry.cc) ----

struct RegistryOptions {
  std::vector<std::string> insecure_registries;  // "host:port" spoken to over HTTP
  std::string auth_file;                         // {"host:port": {"username", "password"}}
};

// Distribution API v2 client for one registry: anonymous, basic or bearer
// token auth (the token fetched from the realm a 401 names, then cached).
class RegistryClient {
 public:
  static Result<std::unique_ptr<RegistryClient>> Create(const std::string& registry, const RegistryOptions& options);
  virtual ~RegistryClient() = default;
  struct Fetched {
    std::string body;
    std::string media_type;
    std::string digest_header;  // Docker-Content-Digest, when sent
  };
  // GET /v2/REPO/manifests/SELECTOR with the OCI and Docker schema-2 types accepted.
  virtual Result<Fetched> GetManifest(const std::string& repository, const std::string& selector) = 0;
  // GET /v2/REPO/blobs/DIGEST into `dest_path` (not verified here);
  // `progress(done, total)` as bytes arrive.
  virtual Status GetBlob(const std::string& repository, const std::string& digest, const std::string& dest_path,
                         const std::function<void(int64_t, int64_t)>& progress) = 0;
};

// The host a reference's registry is reached at: "docker.io" is
// "registry-1.docker.io"; others are themselves.
std::string RegistryHost(const std::string& registry);

}  // namespace bosun::node::image_internal
