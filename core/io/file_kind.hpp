// What a path is, checked before a file is opened: a directory passed as a file must be
// IO_ERROR (not an attempt to read 2^63 bytes), a FIFO must not block the call, and a save
// must not replace a symbolic link, a device node or a read-only file.
#pragma once

#include <string>

namespace spinfer::io {

// IO_ERROR naming `path` unless it is a regular file (symbolic links are followed).
void require_regular_file(const std::string& path);

// IO_ERROR naming `path` unless it does not exist or is a regular file the owner may write
// (a symbolic link itself is refused, whatever it points to).
void require_replaceable(const std::string& path);

}  // namespace spinfer::io
