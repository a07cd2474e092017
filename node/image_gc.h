// node/image_gc.h — automatic image garbage collection on disk pressure, as
// the kubelet's image GC does (imageGCHighThresholdPercent 85,
// imageGCLowThresholdPercent 80).
//
// Each round (every `interval` on its own thread, or RunOnce):
//  1. asks `in_use` for the digests of the images containers on the node use
//     (running or not: a container's rootfs needs its image's layers) and
//     stamps them as used now;
//  2. reads the usage of the filesystem holding the image store
//     (DiskUsagePercent in node/node_info.h: as `df` computes it);
//  3. when usage is at or above `high_percent`, removes unused images, least
//     recently used first (last seen in use by this daemon; an image never
//     seen in use counts from when it was stored: the mtime of its manifest
//     blob), one at a time until usage is at or below `low_percent` or no
//     unused image is left. Never removed: pinned images (the node's airgap
//     imports, as k3s pins them: their archive stays on disk and there is
//     nothing to pull them from) and images this GC first saw less than
//     `minimum_age` ago (the kubelet's ImageMinimumGCAge, 2 minutes: an image
//     pulled or imported for a pod about to start is not taken away before
//     it starts). Each removal is logged ("image removed for disk
//     pressure": reference, digest, usage before and after); so is a round
//     that could not get below the low threshold. When no image can be
//     removed at all, that is logged once, then every 10 minutes.
// `high_percent` 100 turns it off. Images used by containers are never
// removed (ImageStore::GarbageCollect keeps whatever they need).
//
// Thread-safety: RunOnce may be called from any thread (rounds are
// serialised); Start and Stop from one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "node/image_store.h"

namespace bosun::node {

struct ImageGcOptions {
  std::string dir;        // the image store's directory (its filesystem is measured)
  int high_percent = 85;  // 100: never collect
  int low_percent = 80;
  std::chrono::milliseconds interval{std::chrono::seconds(30)};
  std::chrono::milliseconds minimum_age{std::chrono::minutes(2)};
  std::set<std::string> pinned;  // digests never collected
  // The digests of the images containers on the node use now.
  std::function<std::set<std::string>()> in_use;
};

// kInvalid unless 0 <= low < high <= 100 (the message names the flags).
Status ValidateImageGcThresholds(int high_percent, int low_percent);

class ImageGc {
 public:
  ImageGc(ImageStore* store, ImageGcOptions options) : store_(store), o_(std::move(options)) {}
  ~ImageGc();  // Stop()
  ImageGc(const ImageGc&) = delete;
  ImageGc& operator=(const ImageGc&) = delete;

  void Start();
  void Stop();

  // One round; returns the digests removed.
  Result<std::vector<std::string>> RunOnce();
  // New thresholds for the next rounds (validate them first).
  void SetThresholds(int high_percent, int low_percent);

 private:
  void Loop();

  ImageStore* store_;
  ImageGcOptions o_;
  std::mutex round_mu_;  // one round at a time; guards the three below
  std::map<std::string, std::chrono::system_clock::time_point> last_used_;   // by digest
  std::map<std::string, std::chrono::system_clock::time_point> first_seen_;  // by digest
  std::chrono::system_clock::time_point last_stuck_warning_{};  // "no image can be removed"
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace bosun::node
