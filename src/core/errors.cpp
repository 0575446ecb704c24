#include "core/errors.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace chokepoint {

std::string Diagnostic::format() const {
    std::ostringstream os;
    os << file;
    if (line > 0)
        os << ':' << line << ':' << column;
    os << ": ";
    if (!path.empty())
        os << path << ": ";
    os << message;
    return os.str();
}

namespace {
std::string join_diags(const std::vector<Diagnostic> &diags) {
    std::ostringstream os;
    for (std::size_t i = 0; i < diags.size(); ++i) {
        if (i)
            os << '\n';
        os << "error: " << diags[i].format();
    }
    return os.str();
}
} // namespace

InputError::InputError(std::vector<Diagnostic> diags)
    : std::runtime_error(join_diags(diags)), diags_(std::move(diags)) {}
InputError::InputError(const std::string &message) : std::runtime_error("error: " + message) {}

int open_regular_file(const std::string &path, const std::string &what) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        const int err = errno;
        throw InputError(
            std::vector<Diagnostic>{{path, 0, 0, "",
                                     "cannot open " + what + " (" + std::strerror(err) + ")" +
                                         (err == ENOENT ? "; check the path" : "")}});
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int err = errno;
        const auto mode = st.st_mode;
        ::close(fd);
        const std::string kind = S_ISDIR(mode)    ? "a directory"
                                 : S_ISFIFO(mode) ? "a FIFO (named pipe)"
                                 : S_ISCHR(mode)  ? "a character device"
                                 : S_ISBLK(mode)  ? "a block device"
                                 : S_ISSOCK(mode) ? "a socket"
                                                  : "not a regular file";
        throw InputError(std::vector<Diagnostic>{
            {path, 0, 0, "",
             S_ISDIR(mode) && what == "config file"
                 ? "is a directory, not a config file; give the path of a .yaml file"
             : err && !mode
                 ? "cannot examine " + what + " (" + std::strerror(err) + ")"
                 : "is " + kind + ", not a regular file; a " + what + " must be a regular file"}});
    }
    // Reads of a regular file do not block; clear the flag all the same.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

void require_regular_file(const std::string &path, const std::string &what) {
    ::close(open_regular_file(path, what));
}

} // namespace chokepoint
