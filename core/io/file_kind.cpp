#include "io/file_kind.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace spinfer::io {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

void require_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw Error(SPINFER_STATUS_IO_ERROR, "cannot open '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw Error(SPINFER_STATUS_IO_ERROR,
                "'" + path + "' is " + kind_of(st.st_mode) + ", not a regular file");
}

void require_replaceable(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;  // a new file
    throw Error(SPINFER_STATUS_IO_ERROR, "cannot inspect '" + path + "': " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    throw Error(SPINFER_STATUS_IO_ERROR, "refusing to replace '" + path + "': it is " +
                                             kind_of(st.st_mode) + ", not a regular file");
  if (!(st.st_mode & S_IWUSR))
    throw Error(SPINFER_STATUS_IO_ERROR, "refusing to replace '" + path + "': it is read-only");
}

}  // namespace spinfer::io
