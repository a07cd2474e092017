#include "node/image_gc.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "node/node_info.h"

namespace bosun::node {
namespace {

using SysClock = std::chrono::system_clock;

std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", p);
  return buf;
}

// When the image was stored: its manifest blob's mtime.
SysClock::time_point StoredAt(const std::string& dir, const std::string& digest) {
  struct stat st;
  std::string hex = digest.size() > 7 ? digest.substr(7) : digest;
  if (::stat((dir + "/blobs/sha256/" + hex).c_str(), &st) != 0) return SysClock::time_point{};
  return SysClock::time_point(std::chrono::duration_cast<SysClock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
}

}  // namespace

Status ValidateImageGcThresholds(int high, int low) {
  if (high < 0 || high > 100) {
    return Error(Code::kInvalid, "--image-gc-high-threshold: " + std::to_string(high) + " is not a percentage (0-100)");
  }
  if (low < 0 || low > 100) {
    return Error(Code::kInvalid, "--image-gc-low-threshold: " + std::to_string(low) + " is not a percentage (0-100)");
  }
  if (low >= high) {
    return Error(Code::kInvalid, "--image-gc-low-threshold (" + std::to_string(low) +
                                     ") must be below --image-gc-high-threshold (" + std::to_string(high) + ")");
  }
  return Ok();
}

ImageGc::~ImageGc() { Stop(); }

void ImageGc::SetThresholds(int high_percent, int low_percent) {
  std::lock_guard<std::mutex> round(round_mu_);
  o_.high_percent = high_percent;
  o_.low_percent = low_percent;
}

void ImageGc::Start() {
  if (thread_.joinable() || o_.high_percent >= 100) return;
  thread_ = std::thread([this] { Loop(); });
}

void ImageGc::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ImageGc::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    l.unlock();
    if (auto r = RunOnce(); !r) log::Warn("image", "image garbage collection failed", {{"error", r.error().message()}});
    l.lock();
    cv_.wait_for(l, o_.interval, [&] { return stop_; });
  }
}

Result<std::vector<std::string>> ImageGc::RunOnce() {
  std::lock_guard<std::mutex> round(round_mu_);
  std::set<std::string> in_use = o_.in_use ? o_.in_use() : std::set<std::string>{};
  auto now = SysClock::now();
  for (const auto& d : in_use) last_used_[d] = now;
  std::vector<std::string> removed;
  if (o_.high_percent >= 100) return removed;
  // Every round notes when each image was first seen, pressure or not.
  auto images = store_->List();
  if (!images) return images.error();
  std::map<std::string, SysClock::time_point> seen;
  for (const auto& img : *images) {
    auto it = first_seen_.find(img.digest);
    seen[img.digest] = it != first_seen_.end() ? it->second : now;
  }
  first_seen_.swap(seen);
  auto usage = DiskUsagePercent(o_.dir);
  if (!usage) return usage.error();
  if (*usage < o_.high_percent) return removed;

  struct Candidate {
    SysClock::time_point used;
    Image image;
  };
  std::vector<Candidate> candidates;
  std::set<std::string> present;
  size_t pinned = 0, young = 0;
  for (const auto& img : *images) {
    present.insert(img.digest);
    if (in_use.count(img.digest)) continue;
    if (o_.pinned.count(img.digest)) {
      pinned++;
      continue;
    }
    if (now - first_seen_[img.digest] < o_.minimum_age) {
      young++;
      continue;
    }
    auto it = last_used_.find(img.digest);
    candidates.push_back({it != last_used_.end() ? it->second : StoredAt(o_.dir, img.digest), img});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.used != b.used ? a.used < b.used : a.image.digest < b.image.digest;
  });
  double before = *usage;
  if (candidates.empty()) {
    // Nothing to do on a disk that stays full: say so once, then every 10
    // minutes, not every round.
    if (now - last_stuck_warning_ >= std::chrono::minutes(10)) {
      last_stuck_warning_ = now;
      log::Warn("image", "disk pressure: no image can be removed",
                {{"usage", Percent(before)}, {"high", std::to_string(o_.high_percent) + "%"},
                 {"inUse", std::to_string(in_use.size())}, {"pinned", std::to_string(pinned)},
                 {"younger", std::to_string(young)}});
    }
    return removed;
  }
  last_stuck_warning_ = {};
  log::Info("image", "disk pressure: collecting unused images",
            {{"usage", Percent(before)}, {"high", std::to_string(o_.high_percent) + "%"},
             {"low", std::to_string(o_.low_percent) + "%"}, {"collectable", std::to_string(candidates.size())},
             {"pinned", std::to_string(pinned)}, {"younger", std::to_string(young)}});
  double now_usage = before;
  for (const auto& c : candidates) {
    if (now_usage <= o_.low_percent) break;
    // Keep every image but this one (and what in-use images need).
    std::set<std::string> keep = in_use;
    for (const auto& d : present) {
      if (d != c.image.digest) keep.insert(d);
    }
    auto gone = store_->GarbageCollect(keep);
    if (!gone) return gone.error();
    present.erase(c.image.digest);
    auto after = DiskUsagePercent(o_.dir);
    if (!after) return after.error();
    std::string ref = c.image.refs.empty() ? c.image.digest : c.image.refs.front();
    log::Info("image", "image removed for disk pressure",
              {{"image", ref}, {"digest", c.image.digest}, {"usageBefore", Percent(now_usage)},
               {"usageAfter", Percent(*after)}});
    now_usage = *after;
    removed.push_back(c.image.digest);
    last_used_.erase(c.image.digest);
    first_seen_.erase(c.image.digest);
  }
  if (now_usage > o_.low_percent) {
    log::Warn("image", "disk pressure: no unused image left to remove",
              {{"usage", Percent(now_usage)}, {"low", std::to_string(o_.low_percent) + "%"},
               {"removed", std::to_string(removed.size())}});
  }
  return removed;
}

}  // namespace bosun::node
