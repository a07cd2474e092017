// node/image_store.h — the node's images (DESIGN.md §5): content-addressed
// blobs under DATA/images, each layer unpacked once (libarchive; whiteouts and
// opaque directories turned into overlayfs' form), images named by reference
// ("registry:5000/web:1.2", "busybox@sha256:…") and by manifest digest.
//
// Sources: an OCI registry (distribution API v2 over HTTP or HTTPS, anonymous
// or bearer-token auth, OCI and Docker schema-2 manifests and indexes for this
// architecture, every digest verified), and OCI or Docker archives (`bosun
// image import FILE`, and the node's airgap folder at start). The registry
// name `bosun.local` (kImportOnlyRegistry) is never contacted: it names
// images that are only imported (the examples'), and a `.local` name would
// otherwise be looked up on the network (DNS, mDNS) and could reach any host.
//
// On disk (DIR = options.dir): blobs/sha256/<hex> (every blob checked against
// its digest before it is placed), layers/<blob hex>/ (each layer unpacked
// once, renamed into place when complete), index.json (the images, replaced
// atomically), tmp/ (downloads and archives being checked: a failed pull or
// import stores nothing).
//
// Thread-safety: every method may be called from any thread; two pulls of the
// same image share one download; GarbageCollect waits for running pulls and
// imports. Processes sharing DIR (the daemon and `bosun image import`) see
// each other's images: index changes are made under a file lock and re-read
// when the file changes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace bosun::node {

inline constexpr const char* kImportOnlyRegistry = "bosun.local";

struct ImageConfig {  // the parts of the OCI image config a container uses
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::string working_dir;
  std::string user;              // "uid[:gid]" or a name (resolved by the runtime when numeric only)
};

struct Image {
  std::vector<std::string> refs;  // normalized references naming it ("docker.io/library/busybox:latest")
  std::string digest;             // manifest digest "sha256:…" (the image's identity)
  std::string config_digest;
  std::vector<std::string> layer_dirs;  // unpacked layer directories, bottom first
  ImageConfig config;
  int64_t size_bytes = 0;         // compressed layers + config
};

// Kubernetes' imagePullPolicy.
enum class PullPolicy { kAlways, kIfNotPresent, kNever };
// The Kubernetes default: Always for ":latest" or no tag, else IfNotPresent.
PullPolicy DefaultPullPolicy(const std::string& ref);
Result<PullPolicy> ParsePullPolicy(const std::string& s);  // "Always", "IfNotPresent", "Never"

struct PullProgress {
  std::string ref;
  std::string layer;       // digest of the blob being fetched
  int64_t done_bytes = 0;
  int64_t total_bytes = 0;
  int layers_done = 0;
  int layers_total = 0;
};
using ProgressFn = std::function<void(const PullProgress&)>;

struct ImageStoreOptions {
  std::string dir;  // DATA/images
  // Registries spoken to over plain HTTP ("127.0.0.1:5000"); others use HTTPS.
  std::vector<std::string> insecure_registries;
  // Optional credentials file: JSON {"registry:port": {"username": …, "password": …}}.
  std::string auth_file;
};

class ImageStore {
 public:
  static Result<std::unique_ptr<ImageStore>> Open(const ImageStoreOptions& options);
  virtual ~ImageStore() = default;

  // A local image by reference or digest; kNotFound when absent.
  virtual Result<Image> Get(const std::string& ref) = 0;
  // Downloads (verifying every digest) and unpacks; returns the stored image.
  virtual Result<Image> Pull(const std::string& ref, const ProgressFn& progress = nullptr) = 0;
  // Get, or Pull as the policy says (kNever and absent: kNotFound with a
  // message saying the image is not present and the policy is Never).
  virtual Result<Image> Ensure(const std::string& ref, PullPolicy policy, const ProgressFn& progress = nullptr) = 0;
  // Imports every image of an OCI layout archive or `docker save` archive
  // (tar, optionally gzipped).
  virtual Result<std::vector<Image>> Import(const std::string& archive_path) = 0;
  virtual Result<std::vector<Image>> List() = 0;
  // Removes images whose digest is not in `in_use` and every blob and
  // unpacked layer no remaining image needs. Returns the removed digests.
  virtual Result<std::vector<std::string>> GarbageCollect(const std::set<std::string>& in_use) = 0;
};

// "busybox" → "docker.io/library/busybox:latest"; "127.0.0.1:5000/web:1" stays.
Result<std::string> NormalizeReference(const std::string& ref);

}  // namespace bosun::node
