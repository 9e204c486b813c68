#include "common/ed25519.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

namespace patchfarm {
namespace {

struct Free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  void operator()(BIO* b) const { BIO_free(b); }
};
template <typename T>
using Owned = std::unique_ptr<T, Free>;

std::string Drain(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Owned<EVP_PKEY> ReadKey(absl::string_view pem, bool is_private) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  EVP_PKEY* key = is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                             : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key != nullptr && EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return nullptr;
  }
  return Owned<EVP_PKEY>(key);
}

}  // namespace

absl::StatusOr<KeyPair> GenerateEd25519KeyPair() {
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return absl::InternalError("Ed25519 key generation failed");
  }
  Owned<EVP_PKEY> key(raw);
  Owned<BIO> priv(BIO_new(BIO_s_mem())), pub(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1) {
    return absl::InternalError("writing the Ed25519 key failed");
  }
  return KeyPair{Drain(priv.get()), Drain(pub.get())};
}

absl::StatusOr<std::string> SignEd25519(absl::string_view private_pem, absl::string_view data) {
  Owned<EVP_PKEY> key = ReadKey(private_pem, true);
  if (!key) return absl::InvalidArgumentError("not an Ed25519 private key");
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  size_t size = 64;
  std::string signature(size, '\0');
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError("Ed25519 signing failed");
  }
  signature.resize(size);
  return signature;
}

absl::Status VerifyEd25519(absl::string_view public_pem, absl::string_view data,
                           absl::string_view signature) {
  Owned<EVP_PKEY> key = ReadKey(public_pem, false);
  if (!key) return absl::InvalidArgumentError("not an Ed25519 public key");
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return absl::InternalError("Ed25519 verification setup failed");
  }
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
    return absl::PermissionDeniedError("signature does not verify with the pinned public key");
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
