// crypto/secure_memory.h — memory for key material: sodium_malloc'd, locked
// out of swap, guarded, and zeroed when freed.
//
// A SecureBuffer owns `size` bytes allocated with sodium_malloc: the pages are
// mlock'ed (never written to swap, left out of core dumps where the system
// allows), surrounded by guard pages (an overrun faults instead of reading a
// neighbour) and wiped by sodium_free on destruction. Use it for keys that live
// as long as a process does (the data-encryption key, sealing keys, signing
// keys); short-lived copies on the stack are wiped with sodium_memzero (or
// crypto::Wipe for a std::string) instead.
//
// sodium_malloc costs a few pages per allocation, so keep one buffer per key,
// not per message. Move-only. Not synchronised: a const SecureBuffer may be
// read from many threads; writing needs the caller's lock.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/result.h"

namespace bosun::crypto {

class SecureBuffer {
 public:
  // An empty buffer (size 0, data nullptr).
  SecureBuffer() = default;

  // `size` zero bytes. kInternal when libsodium cannot initialise or the
  // allocation (or locking it) fails — e.g. RLIMIT_MEMLOCK exhausted.
  static Result<SecureBuffer> Allocate(size_t size);
  // A copy of `bytes` (the caller wipes its own copy).
  static Result<SecureBuffer> CopyOf(std::string_view bytes);

  ~SecureBuffer();  // wipes and frees
  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

  unsigned char* data() { return data_; }
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The bytes, for passing to libsodium; do not copy them into ordinary memory.
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  void Release();
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bosun::crypto
