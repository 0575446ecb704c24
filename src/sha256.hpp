// SHA-256 (FIPS 180-4), to fingerprint the config a result came from.
#pragma once

#include <string>
#include <string_view>

namespace chokepoint {
/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);
} // namespace chokepoint
