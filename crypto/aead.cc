#include "crypto/aead.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "crypto/tokens.h"

namespace bosun::crypto {
namespace {

namespace fs = std::filesystem;

static_assert(kDataKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

constexpr std::string_view kKeyIdLabel = "bosun data key id v1";

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string Errno(int e) {
  return std::strerror(e);
}

// Writes all of `n` bytes; false with errno set on failure.
bool WriteAll(int fd, const unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void SyncDir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// Creates `path` holding a new key unless it exists by the time we link ours
// into place. kAlreadyExists means another process won: read its file.
Status CreateKeyFile(const std::string& path) {
  fs::path p(path);
  fs::path dir = p.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      fs::create_directories(dir, ec);
      if (ec) return Error(Code::kIo, "cannot create the folder of the key file " + path + ": " + ec.message());
      // Only a folder made here is tightened; an existing one is the user's.
      if (::chmod(dir.c_str(), 0700) != 0) {
        return Error(Code::kIo, "cannot make " + dir.string() + " mode 0700: " + Errno(errno));
      }
    }
  }
  std::string tmpl = path + ".tmp.XXXXXX";
  int fd = ::mkstemp(tmpl.data());  // mode 0600
  if (fd < 0) return Error(Code::kIo, "cannot create a key file next to " + path + ": " + Errno(errno));
  unsigned char raw[kDataKeyBytes];
  randombytes_buf(raw, sizeof raw);
  bool ok = ::fchmod(fd, 0600) == 0 && WriteAll(fd, raw, sizeof raw) && ::fsync(fd) == 0;
  int err = errno;
  sodium_memzero(raw, sizeof raw);
  ::close(fd);
  if (!ok) {
    ::unlink(tmpl.c_str());
    return Error(Code::kIo, "cannot write the key file " + path + ": " + Errno(err));
  }
  // link(2), unlike rename(2), never replaces an existing file: of two
  // processes creating the key at once, one wins and both use its key.
  int rc = ::link(tmpl.c_str(), path.c_str());
  err = errno;
  ::unlink(tmpl.c_str());
  if (rc != 0) {
    if (err == EEXIST) return Error(Code::kAlreadyExists, path);
    return Error(Code::kIo, "cannot create the key file " + path + ": " + Errno(err));
  }
  SyncDir(dir);
  return Ok();
}

}  // namespace

Result<DataKey> DataKey::FromBuffer(SecureBuffer key) {
  if (key.size() != kDataKeyBytes) {
    return Error(Code::kInvalid, "a data key is " + std::to_string(kDataKeyBytes) + " bytes, not " +
                                     std::to_string(key.size()));
  }
  unsigned char h[crypto_generichash_BYTES];
  crypto_generichash(h, sizeof h, Bytes(kKeyIdLabel), kKeyIdLabel.size(), key.data(), key.size());
  char hex[kKeyIdChars + 1];
  sodium_bin2hex(hex, sizeof hex, h, kKeyIdChars / 2);
  sodium_memzero(h, sizeof h);
  return DataKey(std::move(key), std::string(hex));
}

Result<DataKey> DataKey::Generate() {
  auto buf = SecureBuffer::Allocate(kDataKeyBytes);
  if (!buf) return buf.error();
  crypto_aead_xchacha20poly1305_ietf_keygen(buf->data());
  return FromBuffer(std::move(*buf));
}

Result<DataKey> DataKey::FromBytes(std::string_view raw) {
  if (raw.size() != kDataKeyBytes) {
    return Error(Code::kInvalid, "a data key is " + std::to_string(kDataKeyBytes) + " bytes, not " +
                                     std::to_string(raw.size()));
  }
  auto buf = SecureBuffer::CopyOf(raw);
  if (!buf) return buf.error();
  return FromBuffer(std::move(*buf));
}

std::string DataKey::Seal(std::string_view plaintext, std::string_view associated_data) const {
  std::string out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(o, kAeadNonceBytes);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(o + kAeadNonceBytes, &clen, Bytes(plaintext), plaintext.size(),
                                             Bytes(associated_data), associated_data.size(), nullptr, o,
                                             key_.data());
  out.resize(kAeadNonceBytes + clen);
  return out;
}

Result<std::string> DataKey::Open(std::string_view sealed, std::string_view associated_data) const {
  if (sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    return Error(Code::kInvalid, "ciphertext too short (" + std::to_string(sealed.size()) + " bytes)");
  }
  const unsigned char* nonce = Bytes(sealed);
  std::string_view ct = sealed.substr(kAeadNonceBytes);
  std::string out(ct.size() - kAeadTagBytes, '\0');
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(out.data()), &mlen, nullptr,
                                                 Bytes(ct), ct.size(), Bytes(associated_data),
                                                 associated_data.size(), nonce, key_.data()) != 0) {
    // libsodium leaves the output untouched on failure, but wipe anyway.
    Wipe(out);
    return Error(Code::kInvalid, "authentication failed (wrong key, wrong associated data, or tampered ciphertext)");
  }
  out.resize(mlen);
  return out;
}

Result<DataKey> LoadKeyFile(const std::string& path) {
  if (auto st = Init(); !st) return st.error();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return Error(Code::kNotFound, "key file " + path + " does not exist");
    if (e == ELOOP) return Error(Code::kInvalid, "key file " + path + " is a symbolic link; give the real file");
    return Error(Code::kIo, "cannot open the key file " + path + ": " + Errno(e));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Error(Code::kIo, "cannot stat the key file " + path + ": " + Errno(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(Code::kInvalid, "key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error(Code::kInvalid, "key file " + path + " has mode " + mode +
                                     ": group and others must not read or write it (chmod 600 " + path + ")");
  }
  if (st.st_size != static_cast<off_t>(kDataKeyBytes)) {
    ::close(fd);
    return Error(Code::kInvalid, "key file " + path + " holds " + std::to_string(st.st_size) + " bytes; a key file holds exactly " +
                                     std::to_string(kDataKeyBytes) + " random bytes");
  }
  auto buf = SecureBuffer::Allocate(kDataKeyBytes);
  if (!buf) {
    ::close(fd);
    return buf.error();
  }
  size_t got = 0;
  while (got < kDataKeyBytes) {
    ssize_t r = ::read(fd, buf->data() + got, kDataKeyBytes - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  int e = errno;
  ::close(fd);
  if (got != kDataKeyBytes) return Error(Code::kIo, "cannot read the key file " + path + ": " + Errno(e));
  return DataKey::FromBuffer(std::move(*buf));
}

Result<DataKey> LoadOrCreateKeyFile(const std::string& path) {
  auto key = LoadKeyFile(path);
  if (key || key.error().code() != Code::kNotFound) return key;
  if (auto st = CreateKeyFile(path); !st && st.error().code() != Code::kAlreadyExists) return st.error();
  return LoadKeyFile(path);
}

}  // namespace bosun::crypto
