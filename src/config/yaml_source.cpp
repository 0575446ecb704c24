#include "config/loader.hpp"

namespace chokepoint::config_detail {

/// A config bigger than this is refused rather than read (and e.g. /dev/zero never ends).
constexpr std::size_t kMaxConfigBytes = std::size_t(64) << 20;

[[noreturn]] void file_error(const std::string &path, const std::string &msg, int line, int column,
                             const std::string &key) {
    throw InputError(std::vector<Diagnostic>{{path, line, column, key, msg}});
}

/// Reads a config file; throws InputError naming it, and saying why, when it cannot. Only a
/// regular file is read: it is opened without blocking and checked (fstat) before reading, so
/// that a FIFO (which would block open() until a writer comes), a device (/dev/zero never ends)
/// or a socket is refused at once.
std::string read_file(const std::string &path) {
    if (path.empty())
        file_error(path, "no config file given (empty path)");
    const int fd = open_regular_file(path, "config file");
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > kMaxConfigBytes)
        file_error(path, "larger than " + std::to_string(kMaxConfigBytes >> 20) +
                             " MiB: not a config file");
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            file_error(path, std::string("cannot read config file (") + std::strerror(errno) + ")");
        if (n == 0)
            break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > kMaxConfigBytes)
            file_error(path, "larger than " + std::to_string(kMaxConfigBytes >> 20) +
                                 " MiB: not a config file");
    }
    return text;
}

/// Line and column (1-based) of byte `pos` of `text`.
std::pair<int, int> line_col(const std::string &text, std::size_t pos) {
    const int line = 1 + static_cast<int>(std::count(
                             text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
    const auto bol = pos == 0 ? std::string::npos : text.rfind('\n', pos - 1);
    const int col = static_cast<int>(bol == std::string::npos ? pos + 1 : pos - bol);
    return {line, col};
}

/// Position of the first byte that is not part of valid UTF-8, or npos.
std::size_t invalid_utf8(const std::string &s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        unsigned min = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            min = 0x10000;
        } else {
            return i;
        }
        unsigned cp = c & (0x3Fu >> n);
        for (std::size_t k = 1; k <= n; ++k) {
            if (i + k >= s.size())
                return i;
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return std::string::npos;
}

/// yaml-cpp's message, with a hint a newcomer can act on for the common ones.
std::string syntax_message(const std::string &msg) {
    static const std::vector<std::pair<std::string, std::string>> hints{
        {YAML::ErrorMsg::MAP_VALUE,
         "a 'key: value' where none can start; check this line's indentation against the lines "
         "above (keys of one map line up), and quote a value that contains ': '"},
        {YAML::ErrorMsg::MAP_KEY,
         "a map key where none can start; check the indentation of this line"},
        {YAML::ErrorMsg::END_OF_MAP,
         "a map ends unexpectedly; check the indentation (keys of one map must line up)"},
        {YAML::ErrorMsg::END_OF_SEQ,
         "a list ends unexpectedly; check the indentation (the '- ' items of one list line up, "
         "and the keys of an item line up with its first key)"},
        {YAML::ErrorMsg::END_OF_MAP_FLOW, "a '{' is not closed by a '}'"},
        {YAML::ErrorMsg::END_OF_SEQ_FLOW, "a '[' is not closed by a ']'"},
        {YAML::ErrorMsg::FLOW_END, "a ']' or '}' without its opening '[' or '{'"},
        {YAML::ErrorMsg::BLOCK_ENTRY,
         "a '- ' list item where none can start; check the indentation of this line, and that "
         "every '{' and '[' above it is closed"},
        {YAML::ErrorMsg::EOF_IN_SCALAR, "a quoted string is not closed; add the closing quote"},
        {YAML::ErrorMsg::UNKNOWN_ANCHOR,
         "'*name' refers to an anchor '&name' that is not defined before it"},
        {YAML::ErrorMsg::INVALID_ESCAPE,
         "in a double-quoted string '\\' starts an escape; use single quotes, or write '\\\\'"},
        {YAML::ErrorMsg::UNKNOWN_TOKEN, "a character YAML does not allow here"},
    };
    for (const auto &[m, hint] : hints)
        if (msg.rfind(m, 0) == 0)
            return "YAML syntax error: " + msg + ": " + hint;
    return "YAML syntax error: " + msg;
}

/// The most YAML nodes (every key, value and list item) a config file may hold: yaml-cpp keeps
/// ~0.7 KB per node, so this bounds the parsed tree near 1.4 GB (a 50,000-facility config has
/// about 1,000,000).
constexpr std::uint64_t kMaxNodes = 2'000'000;
/// The most nodes aliases (`*name`) may add to a file when expanded: the loader walks the
/// expanded tree, and nested aliases (`&a [x, x]`, `&b [*a, *a]`, ...) double it at each level.
constexpr std::uint64_t kMaxAliasNodes = 1'000'000;

/// Counts the documents of a YAML stream and whether each holds anything; counts its nodes, and
/// the nodes its aliases stand for when expanded (each alias: the size of the anchored node,
/// aliases inside it expanded too), and throws Limit at the node where a bound is crossed, before
/// anything is built.
struct DocumentScan : YAML::EventHandler {
    struct Doc {
        YAML::Mark start;
        bool content = false;
    };
    std::vector<Doc> docs;

    struct Limit {
        YAML::Mark mark;
        std::string message;
    };
    std::uint64_t own = 0;      // nodes written in the file
    std::uint64_t expanded = 0; // nodes of the tree with every alias expanded

    void OnDocumentStart(const YAML::Mark &mark) override { docs.push_back({mark, false}); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark &mark, YAML::anchor_t anchor) override {
        leaf(mark, anchor, false); // an empty document is a null: not content
    }
    void OnAlias(const YAML::Mark &mark, YAML::anchor_t anchor) override {
        seen();
        const auto it = sizes_.find(anchor);
        if (it == sizes_.end())
            throw Limit{mark, "an alias refers to the list or map that contains it (a cycle); "
                              "a config cannot be infinite"};
        add(mark, it->second, 0);
    }
    void OnScalar(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                  const std::string &) override {
        leaf(mark, anchor);
    }
    void OnSequenceStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value) override {
        open(mark, anchor);
    }
    void OnSequenceEnd() override { close(); }
    void OnMapStart(const YAML::Mark &mark, const std::string &, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value) override {
        open(mark, anchor);
    }
    void OnMapEnd() override { close(); }

private:
    struct Frame {
        std::uint64_t nodes; // expanded nodes of the collection so far, itself included
        YAML::anchor_t anchor;
    };
    std::vector<Frame> stack_;
    std::unordered_map<YAML::anchor_t, std::uint64_t> sizes_; // finished anchors' expanded sizes

    void seen() {
        if (!docs.empty())
            docs.back().content = true;
    }
    static std::uint64_t sum(std::uint64_t a, std::uint64_t b) {
        return a > std::numeric_limits<std::uint64_t>::max() - b
                   ? std::numeric_limits<std::uint64_t>::max()
                   : a + b;
    }
    /// `n` more expanded nodes, `written` of them written in the file.
    void add(const YAML::Mark &mark, std::uint64_t n, std::uint64_t written) {
        own += written;
        expanded = sum(expanded, n);
        if (!stack_.empty())
            stack_.back().nodes = sum(stack_.back().nodes, n);
        if (own > kMaxNodes)
            throw Limit{mark, "more than " + std::to_string(kMaxNodes) +
                                  " YAML nodes (keys, values and list items) in one file: too "
                                  "large for a config; split it with include:"};
        if (expanded - own > kMaxAliasNodes)
            throw Limit{mark, "aliases expand to more than " + std::to_string(kMaxAliasNodes) +
                                  " nodes (this alias repeats " + std::to_string(n) +
                                  " nodes; nested aliases multiply): a file's aliases may add "
                                  "at most " +
                                  std::to_string(kMaxAliasNodes) + " nodes in all"};
    }
    void leaf(const YAML::Mark &mark, YAML::anchor_t anchor, bool content = true) {
        if (content)
            seen();
        add(mark, 1, 1);
        if (anchor)
            sizes_[anchor] = 1;
    }
    void open(const YAML::Mark &mark, YAML::anchor_t anchor) {
        seen();
        add(mark, 1, 1);
        stack_.push_back({1, anchor});
    }
    void close() {
        if (stack_.empty())
            return;
        const Frame f = stack_.back();
        stack_.pop_back();
        if (f.anchor)
            sizes_[f.anchor] = f.nodes;
        if (!stack_.empty())
            stack_.back().nodes = sum(stack_.back().nodes, f.nodes - 1); // itself already added
    }
};

YAML::Node parse_yaml(const std::string &text, const std::string &path) {
    if (text.size() > kMaxConfigBytes)
        file_error(path, "larger than " + std::to_string(kMaxConfigBytes >> 20) +
                             " MiB: not a config file");
    if (text.size() >= 2 &&
        ((text[0] == '\xFF' && text[1] == '\xFE') || (text[0] == '\xFE' && text[1] == '\xFF')))
        file_error(path, "the file is UTF-16 encoded; save it as UTF-8", 1, 1);
    if (const auto nul = text.find('\0'); nul != std::string::npos) {
        const auto [l, c] = line_col(text, nul);
        file_error(path,
                   "not a text file (a NUL byte at line " + std::to_string(l) + ", column " +
                       std::to_string(c) + "); expected a YAML config (is this a results file?)",
                   l, c);
    }
    if (const auto bad = invalid_utf8(text); bad != std::string::npos) {
        const auto [l, c] = line_col(text, bad);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
        file_error(path,
                   std::string("not valid UTF-8 (byte ") + hex +
                       "); save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                   l, c);
    }
    // YAML forbids tabs in indentation; yaml-cpp's own message for them is obscure.
    std::size_t line_start = 0;
    int line_no = 1;
    while (line_start < text.size()) {
        std::size_t i = line_start;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
            if (text[i] == '\t')
                file_error(path,
                           "tab character in indentation: YAML does not allow tabs for "
                           "indentation; replace it with spaces",
                           line_no, static_cast<int>(i - line_start + 1));
            ++i;
        }
        const auto eol = text.find('\n', line_start);
        if (eol == std::string::npos)
            break;
        line_start = eol + 1;
        ++line_no;
    }
    YAML::Node root;
    DocumentScan scan;
    try {
        // First the events alone (no tree): the documents, the nodes and what aliases expand
        // to, so that a file too large for the tree or an alias bomb is refused before yaml-cpp
        // builds anything. YAML::LoadAll loops forever on some inputs (a stray ',' at the top
        // level), so the documents after the first are looked for here, with a bound and a
        // progress check.
        std::istringstream in(text);
        YAML::Parser parser(in);
        for (int k = 0; k < 8 && parser.HandleNextDocument(scan); ++k) {
            const auto &d = scan.docs;
            if (d.size() >= 2 && d[d.size() - 1].start.pos == d[d.size() - 2].start.pos)
                break; // no progress: the parser is stuck on a token it cannot use
            if (d.size() >= 2 && d.back().content)
                break;
        }
        root = YAML::Load(text);
    } catch (const DocumentScan::Limit &e) {
        file_error(path, e.message, e.mark.line + 1, e.mark.column + 1);
    }
#ifdef CHOKEPOINT_YAML_DEPTHGUARD
    catch (const YAML::DeepRecursion &e) {
        file_error(path,
                   "YAML syntax error: nested too deeply (more than " + std::to_string(e.depth()) +
                       " levels of lists and maps)",
                   e.mark.line + 1, e.mark.column + 1);
    }
#endif
    catch (const YAML::Exception &e) {
        file_error(path, syntax_message(e.msg), e.mark.line + 1, e.mark.column + 1);
    }
    for (std::size_t k = 1; k < scan.docs.size(); ++k)
        if (scan.docs[k].content)
            file_error(path,
                       "a second YAML document (after '---'); a config is one document: remove "
                       "the '---' line or split the file",
                       scan.docs[k].start.line + 1, scan.docs[k].start.column + 1);
    if (!root.IsDefined() || root.IsNull()) {
        // Nothing but comments, blank lines, '---', '...' and directives is an empty file;
        // anything else is a token yaml-cpp gave up on without an error.
        std::size_t pos = 0;
        int line = 1;
        while (pos < text.size()) {
            const auto eol = std::min(text.find('\n', pos), text.size());
            std::string l = text.substr(pos, eol - pos);
            const auto first = l.find_first_not_of(" \t\r");
            if (first != std::string::npos && l[first] != '#' && l[first] != '%' &&
                l.compare(first, 3, "---") != 0 && l.compare(first, 3, "...") != 0)
                file_error(path,
                           "YAML syntax error: cannot read the file as YAML from here (" +
                               quote(l.substr(first, 20)) +
                               "); a config is a map of 'key: value' lines",
                           line, static_cast<int>(first) + 1);
            pos = eol + 1;
            ++line;
        }
    }
    return root;
}

std::string canonical(const std::string &path) {
    std::error_code ec;
    auto c = fs::weakly_canonical(path, ec);
    return ec ? fs::absolute(path, ec).lexically_normal().string() : c.string();
}

void parse_with_includes(const std::string &path, const std::string &text,
                         std::vector<ParsedFile> &out, std::vector<std::string> &stack,
                         std::vector<ConfigFile> &files, const FileReader &reader) {
    const auto canon = canonical(path);
    const bool included = !stack.empty();
    YAML::Node root = parse_yaml(text, path);
    if (!root.IsDefined() || root.IsNull())
        file_error(path, included ? "empty file: an included config must be a map of sections "
                                    "(products, facilities, ...)"
                                  : "empty config: expected a map with at least 'products', "
                                    "'facilities' and 'demands'");
    if (!root.IsMap())
        file_error(path,
                   "expected a map of sections (products, facilities, demands, ...) at the top "
                   "level, found " +
                       show(root),
                   root.Mark().line + 1, root.Mark().column + 1);
    out.push_back({path, root});
    files.push_back({path, text});
    stack.push_back(canon);
    if (const auto inc = root["include"]) {
        if (!inc.IsSequence())
            file_error(path,
                       "expected a list of file paths (e.g. include: [part.yaml]), found " +
                           show(inc),
                       inc.Mark().line + 1, inc.Mark().column + 1, "include");
        for (std::size_t i = 0; i < inc.size(); ++i) {
            const auto key = "include[" + std::to_string(i) + "]";
            const int l = inc[i].Mark().line + 1, c = inc[i].Mark().column + 1;
            if (!inc[i].IsScalar() || inc[i].Scalar().empty())
                file_error(path, "expected a file path, found " + show(inc[i]), l, c, key);
            const auto sub = (fs::path(path).parent_path() / inc[i].Scalar()).string();
            const auto sub_canon = canonical(sub);
            if (std::find(stack.begin(), stack.end(), sub_canon) != stack.end()) {
                std::string chain;
                for (const auto &s : stack)
                    chain += fs::path(s).filename().string() + " -> ";
                file_error(path,
                           "include cycle: " + chain + fs::path(sub).filename().string() +
                               " (a file may not include itself, directly or not)",
                           l, c, key);
            }
            for (const auto &pf : out)
                if (canonical(pf.path) == sub_canon)
                    file_error(path, "'" + sub + "' is included twice; include each file once", l,
                               c, key);
            std::string subtext;
            try {
                subtext = reader(sub);
            } catch (const InputError &e) {
                const auto why = e.diagnostics().empty() ? std::string(e.what())
                                                         : e.diagnostics().front().message;
                file_error(path,
                           "cannot read included file '" + sub + "': " + why +
                               " (include paths are relative to the including file)",
                           l, c, key);
            }
            parse_with_includes(sub, subtext, out, stack, files, reader);
        }
    }
    stack.pop_back();
}

} // namespace chokepoint::config_detail
