// Digests, small file helpers and layer unpacking with libarchive.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "node/image_internal.h"

namespace fs = std::filesystem;

namespace bosun::node::image_internal {
namespace {

// SHA-256 of a layer as it streams by (libsodium: OpenSSL 3's first digest
// initialises its provider tables, 2 MiB of the daemon's resident memory).
class Hasher {
 public:
  Hasher() { crypto_hash_sha256_init(&st_); }
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  void Update(const void* data, size_t n) {
    crypto_hash_sha256_update(&st_, static_cast<const unsigned char*>(data), n);
  }
  std::string Digest() {
    unsigned char md[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st_, md);
    static const char* hex = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned char b : md) {
      out += hex[b >> 4];
      out += hex[b & 15];
    }
    return out;
  }

 private:
  crypto_hash_sha256_state st_;
};

Error Errno(const std::string& what) { return Error(Code::kIo, what + ": " + std::strerror(errno)); }

struct ArchiveReader {
  archive* a = archive_read_new();
  ~ArchiveReader() { archive_read_free(a); }
};
struct WriteDisk {
  archive* a = archive_write_disk_new();
  ~WriteDisk() { archive_write_free(a); }
};

// The path of a tar entry relative to the layer root: leading "/" and "./"
// dropped, empty and "." components removed; ".." is refused.
Result<std::string> CleanPath(const std::string& name) {
  std::vector<std::string> parts;
  std::stringstream ss(name);
  std::string comp;
  while (std::getline(ss, comp, '/')) {
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") return Error(Code::kInvalid, "entry \"" + name + "\" leaves the layer (\"..\")");
    parts.push_back(comp);
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

// Makes sure root/rel is a real directory reached without symlinks, creating
// missing parts (0755).
Status SafeDir(const std::string& root, const std::string& rel) {
  std::string path = root;
  std::stringstream ss(rel);
  std::string comp;
  while (std::getline(ss, comp, '/')) {
    if (comp.empty()) continue;
    path += "/" + comp;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) return Errno(path);
      if (mkdir(path.c_str(), 0755) != 0) return Errno("mkdir " + path);
      continue;
    }
    if (S_ISLNK(st.st_mode)) return Error(Code::kInvalid, "\"" + rel + "\" goes through a symlink");
    if (!S_ISDIR(st.st_mode)) return Error(Code::kInvalid, "\"" + rel + "\" is not a directory");
  }
  return Ok();
}

Status Extract(const std::string& blob, const std::string& root) {
  ArchiveReader in;
  archive_read_support_filter_all(in.a);
  archive_read_support_format_tar(in.a);
  if (archive_read_open_filename(in.a, blob.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Error(Code::kIo, std::string("cannot read it: ") + archive_error_string(in.a));
  }
  WriteDisk out;
  int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT;
  if (geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;
  // No user/group lookup: owners stay the numeric ids of the image, never
  // names mapped through this host's /etc/passwd.
  archive_write_disk_set_options(out.a, flags);
  std::vector<std::string> opaque;
  archive_entry* e = nullptr;
  for (;;) {
    int r = archive_read_next_header(in.a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Error(Code::kInvalid, std::string("corrupt tar: ") + archive_error_string(in.a));
    std::string name = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    auto rel = CleanPath(name);
    if (!rel) return rel.error();
    std::string base = rel->substr(rel->rfind('/') == std::string::npos ? 0 : rel->rfind('/') + 1);
    std::string dir = rel->size() > base.size() ? rel->substr(0, rel->size() - base.size() - 1) : "";
    if (base == ".wh..wh..opq") {
      if (auto s = SafeDir(root, dir); !s) return s.error();
      opaque.push_back(dir);
      continue;
    }
    if (base.rfind(".wh.", 0) == 0) {
      std::string target_name = base.substr(4);
      if (target_name.empty()) return Error(Code::kInvalid, "whiteout \"" + name + "\" names nothing");
      if (auto s = SafeDir(root, dir); !s) return s.error();
      std::string target = root + "/" + (dir.empty() ? "" : dir + "/") + target_name;
      std::error_code ec;
      fs::remove_all(target, ec);
      if (mknod(target.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) return Errno("whiteout " + target);
      continue;
    }
    archive_entry_set_pathname(e, (root + (rel->empty() ? "" : "/" + *rel)).c_str());
    if (const char* link = archive_entry_hardlink(e); link != nullptr) {
      auto lrel = CleanPath(link);
      if (!lrel) return lrel.error();
      archive_entry_set_hardlink(e, (root + "/" + *lrel).c_str());
    }
    r = archive_write_header(out.a, e);
    if (r < ARCHIVE_WARN) {
      return Error(Code::kInvalid, "entry \"" + name + "\": " + archive_error_string(out.a));
    }
    if (archive_entry_size(e) > 0) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      for (;;) {
        r = archive_read_data_block(in.a, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return Error(Code::kInvalid, "entry \"" + name + "\": " + archive_error_string(in.a));
        if (archive_write_data_block(out.a, buf, size, offset) < ARCHIVE_WARN) {
          return Error(Code::kIo, "entry \"" + name + "\": " + archive_error_string(out.a));
        }
      }
    }
    if (archive_write_finish_entry(out.a) < ARCHIVE_WARN) {
      return Error(Code::kIo, "entry \"" + name + "\": " + archive_error_string(out.a));
    }
  }
  if (archive_write_close(out.a) != ARCHIVE_OK) return Error(Code::kIo, archive_error_string(out.a));
  for (const auto& d : opaque) {
    std::string path = root + (d.empty() ? "" : "/" + d);
    if (lsetxattr(path.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) return Errno("opaque dir " + path);
  }
  return Ok();
}

}  // namespace

std::string Sha256(std::string_view data) {
  Hasher h;
  h.Update(data.data(), data.size());
  return h.Digest();
}

Result<std::string> Sha256File(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(path);
  Hasher h;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error err = Errno(path);
      close(fd);
      return err;
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
  }
  close(fd);
  return h.Digest();
}

Result<std::string> DiffIdOfFile(const std::string& path) {
  ArchiveReader in;
  archive_read_support_filter_all(in.a);
  archive_read_support_format_raw(in.a);
  archive_entry* e = nullptr;
  if (archive_read_open_filename(in.a, path.c_str(), 1 << 16) != ARCHIVE_OK ||
      archive_read_next_header(in.a, &e) != ARCHIVE_OK) {
    return Error(Code::kInvalid, path + ": " + archive_error_string(in.a));
  }
  Hasher h;
  std::vector<char> buf(1 << 16);
  for (;;) {
    la_ssize_t n = archive_read_data(in.a, buf.data(), buf.size());
    if (n < 0) return Error(Code::kInvalid, path + ": " + archive_error_string(in.a));
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
  }
  return h.Digest();
}

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, path + ": " + std::strerror(errno));
  std::string data;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    data.append(buf, static_cast<size_t>(f.gcount()));
    if (data.size() > max_bytes) return Error(Code::kTooLarge, path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  return data;
}

Status WriteFileAtomic(const std::string& path, const std::string& data) {
  static std::atomic<int> counter{0};
  std::string tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(tmp);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error err = Errno(tmp);
      close(fd);
      unlink(tmp.c_str());
      return err;
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    Error err = Errno(tmp);
    unlink(tmp.c_str());
    return err;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    Error err = Errno("rename " + tmp);
    unlink(tmp.c_str());
    return err;
  }
  return Ok();
}

Status UnpackLayer(const std::string& blob_path, const std::string& dest) {
  static std::atomic<int> counter{0};
  fs::path d(dest);
  std::string tmp = (d.parent_path() / (".tmp-" + d.filename().string() + "-" + std::to_string(getpid()) + "-" +
                                        std::to_string(counter++)))
                        .string();
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (mkdir(tmp.c_str(), 0755) != 0) return Errno("mkdir " + tmp);
  char* real = realpath(tmp.c_str(), nullptr);
  if (real == nullptr) return Errno(tmp);
  std::string root = real;
  free(real);
  Status s = Extract(blob_path, root);
  if (!s) {
    fs::remove_all(tmp, ec);
    return s.error().Wrap("unpacking layer " + blob_path);
  }
  // The layer's files reach the disk before its name appears.
  if (int dfd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    syncfs(dfd);
    close(dfd);
  }
  if (rename(tmp.c_str(), dest.c_str()) != 0) {
    Error err = Errno("rename " + tmp + " to " + dest);
    fs::remove_all(tmp, ec);
    if (fs::is_directory(dest)) return Ok();  // unpacked by a racing call
    return err;
  }
  return Ok();
}

}  // namespace bosun::node::image_internal
