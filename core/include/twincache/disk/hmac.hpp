// disk/hmac.hpp: SHA-256 and HMAC-SHA256 (RFC 2104) for signing disk entries. Both are our own
// code (disk/sha256.hpp, which uses the CPU's SHA extensions where present: signing a 1 MiB value
// costs about half a millisecond instead of several), so the disk tier links no libcrypto.
// Tested with the FIPS 180-4 examples and the RFC 4231 vectors (tests/cpp/disk_hmac_test.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "twincache/disk/sha256.hpp"

namespace twincache::disk {

digest256 sha256(std::string_view data);

// HMAC-SHA256 of the concatenation of `parts` under `key`.
digest256 hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts);

// Constant-time comparison of two digests.
bool digest_equal(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) noexcept;

// Fills out with n bytes from the kernel's random source (getrandom). False on failure.
bool random_bytes(std::uint8_t* out, std::size_t n) noexcept;

}  // namespace twincache::disk
