#include "crypto/secure_memory.h"

#include <sodium.h>

#include <cstring>

#include "crypto/tokens.h"

namespace bosun::crypto {

Result<SecureBuffer> SecureBuffer::Allocate(size_t size) {
  if (auto st = Init(); !st) return st.error();
  SecureBuffer b;
  if (size == 0) return b;
  void* p = sodium_malloc(size);
  if (p == nullptr) {
    return Error(Code::kInternal, "cannot allocate " + std::to_string(size) +
                                      " bytes of locked memory for key material (sodium_malloc failed; is "
                                      "RLIMIT_MEMLOCK too low?)");
  }
  b.data_ = static_cast<unsigned char*>(p);
  b.size_ = size;
  sodium_memzero(b.data_, size);
  return b;
}

Result<SecureBuffer> SecureBuffer::CopyOf(std::string_view bytes) {
  auto b = Allocate(bytes.size());
  if (!b) return b.error();
  if (!bytes.empty()) std::memcpy(b->data(), bytes.data(), bytes.size());
  return b;
}

SecureBuffer::~SecureBuffer() { Release(); }

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void SecureBuffer::Release() {
  // sodium_free zeroes the region before unlocking and unmapping it.
  if (data_ != nullptr) sodium_free(data_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace bosun::crypto
