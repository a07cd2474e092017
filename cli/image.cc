// `bosun image import|ls|pull|gc`: a node's image store (node/image_store.h)
// worked on directly, as the node daemon does: images live under DATA/images.
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/verbs.h"
#include "node/image_store.h"

namespace bosun::cli {
namespace {

struct ImageOptions {
  std::string data = "/var/lib/bosun/node";  // the default of `bosun node --data`
  std::vector<std::string> insecure;
  std::string auth_file;
  std::vector<std::string> files;
  std::string ref;
  std::vector<std::string> keep;
};

Result<std::unique_ptr<node::ImageStore>> OpenStore(const ImageOptions& opt) {
  node::ImageStoreOptions o;
  o.dir = opt.data + "/images";
  o.insecure_registries = opt.insecure;
  o.auth_file = opt.auth_file;
  return node::ImageStore::Open(o);
}

std::string ShortDigest(const std::string& d) { return d.size() > 19 ? d.substr(7, 12) : d; }

std::string HumanSize(int64_t bytes) {
  char buf[32];
  if (bytes >= (1 << 30)) {
    std::snprintf(buf, sizeof buf, "%.1fGiB", bytes / double(1 << 30));
  } else if (bytes >= (1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.1fMiB", bytes / double(1 << 20));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1fKiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lldB", static_cast<long long>(bytes));
  }
  return buf;
}

void AddStoreFlags(CLI::App* cmd, ImageOptions* opt, bool registry) {
  cmd->add_option("--data", opt->data, "The node's data folder; images live under DATA/images")
      ->capture_default_str();
  if (registry) {
    cmd->add_option("--insecure-registry", opt->insecure,
                    "A registry (host:port) spoken to over plain HTTP; repeatable");
    cmd->add_option("--registry-auth", opt->auth_file,
                    "JSON file of credentials: {\"host:port\": {\"username\": …, \"password\": …}}");
  }
}

int RunImport(const ImageOptions& opt) {
  auto store = OpenStore(opt);
  if (!store) return Fail("image import", store.error().message());
  int failed = 0;
  for (const auto& f : opt.files) {
    auto images = (*store)->Import(f);
    if (!images) {
      Fail("image import", images.error().message());
      failed++;
      continue;
    }
    for (const auto& img : *images) {
      std::printf("imported %s %s\n", img.refs.empty() ? "(no name)" : img.refs.front().c_str(), img.digest.c_str());
    }
  }
  return failed == 0 ? 0 : 1;
}

int RunList(const ImageOptions& opt) {
  auto store = OpenStore(opt);
  if (!store) return Fail("image ls", store.error().message());
  auto images = (*store)->List();
  if (!images) return Fail("image ls", images.error().message());
  TablePrinter table({"REFERENCE", "DIGEST", "SIZE"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& img : *images) {
    if (img.refs.empty()) rows.push_back({"<none>", ShortDigest(img.digest), HumanSize(img.size_bytes)});
    for (const auto& ref : img.refs) rows.push_back({ref, ShortDigest(img.digest), HumanSize(img.size_bytes)});
  }
  table.Fit(rows);
  table.PrintHeader();
  for (const auto& r : rows) table.PrintRow(r);
  return 0;
}

int RunPull(const ImageOptions& opt) {
  auto store = OpenStore(opt);
  if (!store) return Fail("image pull", store.error().message());
  std::string last;
  auto img = (*store)->Pull(opt.ref, [&last](const node::PullProgress& p) {
    if (p.layer != last && p.done_bytes == 0) {
      last = p.layer;
      std::fprintf(stderr, "fetching %s (%s)\n", p.layer.c_str(),
                   p.total_bytes >= 0 ? HumanSize(p.total_bytes).c_str() : "size unknown");
    }
  });
  if (!img) return Fail("image pull", img.error().message());
  std::printf("pulled %s %s\n", img->refs.empty() ? opt.ref.c_str() : img->refs.back().c_str(), img->digest.c_str());
  return 0;
}

int RunGc(const ImageOptions& opt) {
  auto store = OpenStore(opt);
  if (!store) return Fail("image gc", store.error().message());
  std::set<std::string> keep(opt.keep.begin(), opt.keep.end());
  auto removed = (*store)->GarbageCollect(keep);
  if (!removed) return Fail("image gc", removed.error().message());
  for (const auto& d : *removed) std::printf("removed %s\n", d.c_str());
  std::printf("%zu image(s) removed\n", removed->size());
  return 0;
}

}  // namespace

void AddImage(CLI::App& app, int* exit_code) {
  CLI::App* image = app.add_subcommand("image", "Work on a node's image store (DATA/images)");
  image->require_subcommand(1);

  auto imp = std::make_shared<ImageOptions>();
  CLI::App* c = image->add_subcommand("import", "Import OCI image-layout or `docker save` archives (tar or tar.gz)");
  c->add_option("FILE", imp->files, "Archives to import")->required();
  AddStoreFlags(c, imp.get(), false);
  c->callback([imp, exit_code] { *exit_code = RunImport(*imp); });

  auto ls = std::make_shared<ImageOptions>();
  c = image->add_subcommand("ls", "List the images in the store: reference, digest, size");
  AddStoreFlags(c, ls.get(), false);
  c->callback([ls, exit_code] { *exit_code = RunList(*ls); });

  auto pull = std::make_shared<ImageOptions>();
  c = image->add_subcommand("pull", "Pull an image from a registry (every digest verified)");
  c->add_option("REF", pull->ref, "Image reference, e.g. 127.0.0.1:5000/web:1 or busybox")->required();
  AddStoreFlags(c, pull.get(), true);
  c->callback([pull, exit_code] { *exit_code = RunPull(*pull); });

  auto gc = std::make_shared<ImageOptions>();
  c = image->add_subcommand("gc",
                            "Remove images (and the blobs and layers only they use) except those named with --keep.\n"
                            "Stop the node daemon first, or name every image its pods use.");
  c->add_option("--keep", gc->keep, "An image (reference or digest) to keep; repeatable");
  AddStoreFlags(c, gc.get(), false);
  c->callback([gc, exit_code] { *exit_code = RunGc(*gc); });
}

}  // namespace bosun::cli
