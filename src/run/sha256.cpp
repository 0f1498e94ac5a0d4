#include "run/sha256.h"

#include <openssl/evp.h>

#include "trainscope/error.h"

namespace trainscope::detail {

std::string sha256_hex(const void* data, std::size_t size) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  // EVP_Digest: one-shot init/update/final on an internal context, no allocation to manage here.
  if (EVP_Digest(data, size, digest, &digest_size, EVP_sha256(), nullptr) != 1 || digest_size != 32)
    throw Error("sha256: OpenSSL's EVP_Digest failed");
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * digest_size);
  for (unsigned int i = 0; i < digest_size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xf]);
  }
  return out;
}

}  // namespace trainscope::detail
