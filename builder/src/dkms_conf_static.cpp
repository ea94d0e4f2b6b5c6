// The static dkms.conf reader: a bash lexer for words and statements, a block tracker so
// that assignments under if/case/for are known to be conditional, and DKMS's safe_source
// replay. Every loop advances the cursor, so hostile input ends in one pass.
#include "ckms/builder/dkms_conf_static.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "ckms/base/error.hpp"
#include "ckms/base/io.hpp"
#include "ckms/builder/tree_files.hpp"

namespace ckms::builder {
namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_meta(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' || c == '(' || c == ')' || c == '<' ||
         c == '>';
}

// Variables bash or the process sets at run time: their value in DKMS's shell is not
// something a file's text decides.
const std::set<std::string, std::less<>> kRuntimeVariables = {
    "BASH_SOURCE", "PWD",  "OLDPWD", "RANDOM", "SECONDS", "LINENO", "HOSTNAME", "BASH_VERSION", "UID",   "EUID",
    "PPID",        "HOME", "PATH",   "USER",   "SHELL",   "IFS",    "FUNCNAME", "BASHPID",      "TMPDIR"};

const std::set<std::string, std::less<>> kBlockOpeners = {"if", "case", "for", "while", "until", "select", "{"};
const std::set<std::string, std::less<>> kBlockClosers = {"fi", "esac", "done", "}"};
const std::set<std::string, std::less<>> kBlockMiddles = {"then", "else", "elif", "do", "!", "time"};

struct Word {
  std::string value;
  bool plain = true;       // no quotes or expansions: may be a keyword
  bool determined = true;  // false when the value depends on what is not known
  std::string why;         // why not determined
};

struct Assignment {
  std::string name;
  std::optional<std::size_t> index;  // nullopt with index_known: element 0 of a scalar
  bool index_known = true;
  bool append = false;
  Word value;
};

struct Token {
  enum class Kind { word, op } kind = Kind::word;
  Word w;
  std::string op;
  std::optional<Assignment> assignment;
};

struct Statement {
  std::size_t line = 0;
  std::vector<Token> tokens;
};

class Lexer {
 public:
  Lexer(std::string_view text, std::size_t first_line) : s_(text), line_(first_line) {}

  // Variable lookups and findings are the interpreter's; the lexer asks through these.
  std::function<Word(const std::string& name, std::optional<std::size_t> index, bool all)> lookup;
  std::function<void(std::size_t line, std::string construct, std::string detail)> unsupported;

  bool at_end() const { return pos_ >= s_.size(); }

  // Reads one statement: tokens up to a newline or ';' (';;' included).
  std::optional<Statement> next_statement() {
    Statement st;
    skip_blanks_and_comments();
    if (at_end() || failed_) return std::nullopt;
    st.line = line_;
    while (!at_end() && !failed_) {
      skip_blanks();
      if (at_end()) break;
      const char c = s_[pos_];
      if (c == '#') {
        skip_to_newline();
        continue;
      }
      if (c == '\n') {
        ++pos_;
        ++line_;
        skip_heredocs();
        break;
      }
      if (c == ';') {
        ++pos_;
        if (peek() == ';' || peek() == '&') ++pos_;
        break;
      }
      if (c == '&' || c == '|' || c == '(' || c == ')' || c == '<' || c == '>') {
        st.tokens.push_back(read_operator());
        continue;
      }
      st.tokens.push_back(read_token());
    }
    return st;
  }

 private:
  char peek(std::size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0'; }

  void syntax_error(std::size_t line, std::string detail) {
    unsupported(line, "syntax error", std::move(detail));
    failed_ = true;
    pos_ = s_.size();
  }

  void skip_blanks() {
    while (!at_end()) {
      if (is_blank(s_[pos_])) {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '\\' && peek(1) == '\n') {
        pos_ += 2;
        ++line_;
        continue;
      }
      break;
    }
  }

  void skip_to_newline() {
    while (!at_end() && s_[pos_] != '\n') ++pos_;
  }

  void skip_blanks_and_comments() {
    for (;;) {
      skip_blanks();
      if (at_end()) return;
      if (s_[pos_] == '#') {
        skip_to_newline();
        continue;
      }
      if (s_[pos_] == ';') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '\n') {
        ++pos_;
        ++line_;
        skip_heredocs();
        continue;
      }
      return;
    }
  }

  // Bodies of `<<WORD` redirections begin on the line after their statement; they are data
  // for a command that never runs here, and must not be read as statements.
  void skip_heredocs() {
    for (const auto& [delimiter, strip_tabs] : pending_heredocs_) {
      for (;;) {
        if (at_end()) return;
        std::size_t end = s_.find('\n', pos_);
        if (end == std::string_view::npos) end = s_.size();
        std::string_view text = s_.substr(pos_, end - pos_);
        if (strip_tabs) {
          while (!text.empty() && text.front() == '\t') text.remove_prefix(1);
        }
        pos_ = std::min(end + 1, s_.size());
        ++line_;
        if (text == delimiter) break;
      }
    }
    pending_heredocs_.clear();
  }

  Token read_operator() {
    Token t;
    t.kind = Token::Kind::op;
    const char c = s_[pos_++];
    t.op = std::string(1, c);
    if ((c == '&' || c == '|' || c == '<' || c == '>') && peek() == c) {
      t.op += c;
      ++pos_;
    }
    if (t.op == "<<") {
      const bool strip_tabs = peek() == '-';
      if (strip_tabs) ++pos_;
      skip_blanks();
      Word delimiter = read_word();
      pending_heredocs_.emplace_back(delimiter.value, strip_tabs);
    }
    return t;
  }

  // An assignment is NAME=, NAME+= or NAME[subscript]= written without quotes.
  std::optional<Assignment> try_assignment_prefix() {
    std::size_t p = pos_;
    if (!is_name_start(s_[p])) return std::nullopt;
    while (p < s_.size() && is_name_char(s_[p])) ++p;
    Assignment a;
    a.name = std::string(s_.substr(pos_, p - pos_));
    if (p < s_.size() && s_[p] == '[') {
      const std::size_t close = s_.find(']', p);
      if (close == std::string_view::npos || close > s_.find('\n', p)) return std::nullopt;
      std::string subscript(s_.substr(p + 1, close - p - 1));
      subscript.erase(std::remove_if(subscript.begin(), subscript.end(), is_blank), subscript.end());
      if (!subscript.empty() &&
          std::all_of(subscript.begin(), subscript.end(),
                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
          subscript.size() < 10) {
        a.index = std::stoul(subscript);
      } else {
        a.index_known = false;
        a.value.why = fmt::format("subscript [{}] is computed", subscript);
      }
      p = close + 1;
    }
    if (p < s_.size() && s_[p] == '+' && p + 1 < s_.size() && s_[p + 1] == '=') {
      a.append = true;
      ++p;
    }
    if (p >= s_.size() || s_[p] != '=') return std::nullopt;
    pos_ = p + 1;
    return a;
  }

  Token read_token() {
    Token t;
    if (auto a = try_assignment_prefix()) {
      const std::size_t line = line_;
      if (peek() == '(') {
        unsupported(line, "array assignment", fmt::format("{}=( ... ) is not read", a->name));
        skip_balanced('(', ')');
        a->value.determined = false;
        a->value.why = "compound array assignment";
      } else {
        const bool index_known = a->index_known;
        std::string why = a->value.why;
        a->value = read_word();
        if (!index_known) {
          a->value.determined = false;
          a->value.why = why;
        }
      }
      a->value.plain = false;
      t.assignment = std::move(a);
      return t;
    }
    t.w = read_word();
    return t;
  }

  void undetermined(Word& w, std::size_t line, std::string construct, std::string detail) {
    if (w.determined) w.why = fmt::format("{} at line {}", construct, line);
    w.determined = false;
    unsupported(line, std::move(construct), std::move(detail));
  }

  // Skips a balanced region starting at s_[pos_] == open, stepping over quoted text.
  void skip_balanced(char open, char close) {
    const std::size_t start_line = line_;
    int depth = 0;
    while (!at_end()) {
      const char c = s_[pos_];
      if (c == '\n') ++line_;
      if (c == '\\') {
        if (peek(1) == '\n') ++line_;
        pos_ += 2;
        continue;
      }
      if (c == '\'') {
        const std::size_t end = s_.find('\'', pos_ + 1);
        if (end == std::string_view::npos) break;
        line_ += static_cast<std::size_t>(std::count(s_.begin() + pos_, s_.begin() + end, '\n'));
        pos_ = end + 1;
        continue;
      }
      if (c == '"') {
        skip_double_quoted();
        if (failed_) return;
        continue;
      }
      if (c == open) ++depth;
      if (c == close && --depth == 0) {
        ++pos_;
        return;
      }
      ++pos_;
    }
    syntax_error(start_line, fmt::format("unbalanced '{}' opened at line {}", open, start_line));
  }

  void skip_backquote(Word& w) {
    const std::size_t line = line_;
    ++pos_;
    while (!at_end() && s_[pos_] != '`') {
      if (s_[pos_] == '\n') ++line_;
      if (s_[pos_] == '\\') ++pos_;
      ++pos_;
    }
    if (at_end()) return syntax_error(line, fmt::format("unterminated ` opened at line {}", line));
    ++pos_;
    undetermined(w, line, "command substitution", "`...` runs a command");
  }

  // Steps over a double-quoted string without expanding it (inside a region that is
  // skipped as a whole, such as $(...)).
  void skip_double_quoted() {
    const std::size_t line = line_;
    for (++pos_; !at_end(); ++pos_) {
      if (s_[pos_] == '\n') ++line_;
      if (s_[pos_] == '\\') {
        if (peek(1) == '\n') ++line_;
        ++pos_;
        continue;
      }
      if (s_[pos_] == '"') {
        ++pos_;
        return;
      }
    }
    syntax_error(line, fmt::format("unterminated double quote opened at line {}", line));
  }

  // At '$': appends the expansion to w.
  void expand(Word& w, bool quoted) {
    const std::size_t line = line_;
    const char n = peek(1);
    w.plain = false;
    if (n == '(') {
      ++pos_;
      const bool arithmetic = peek(1) == '(';
      skip_balanced('(', ')');
      undetermined(w, line, arithmetic ? "arithmetic expansion" : "command substitution",
                   arithmetic ? "$((...)) is computed by the shell" : "$(...) runs a command");
      return;
    }
    if (n == '{') {
      ++pos_;
      const std::size_t body_start = pos_ + 1;
      skip_balanced('{', '}');
      if (failed_) return;
      const std::string body(s_.substr(body_start, pos_ - 1 - body_start));
      std::size_t p = 0;
      while (p < body.size() && is_name_char(body[p])) ++p;
      const std::string name = body.substr(0, p);
      if (name.empty() || !is_name_start(name[0])) {
        return undetermined(w, line, "parameter expansion", quote_input("${" + body + "}"));
      }
      if (p == body.size()) return append_lookup(w, line, name, std::nullopt, false);
      if (body[p] == '[' && body.back() == ']') {
        const std::string subscript = body.substr(p + 1, body.size() - p - 2);
        if (subscript == "@" || subscript == "*") return append_lookup(w, line, name, std::nullopt, true);
        if (!subscript.empty() && subscript.size() < 10 && std::all_of(subscript.begin(), subscript.end(), [](char c) {
              return std::isdigit(static_cast<unsigned char>(c));
            })) {
          return append_lookup(w, line, name, std::stoul(subscript), false);
        }
      }
      return undetermined(w, line, "parameter expansion",
                          fmt::format("{} uses an operator or computed subscript", quote_input("${" + body + "}")));
    }
    if (is_name_start(n)) {
      std::size_t p = pos_ + 1;
      while (p < s_.size() && is_name_char(s_[p])) ++p;
      const std::string name(s_.substr(pos_ + 1, p - pos_ - 1));
      pos_ = p;
      return append_lookup(w, line, name, std::nullopt, false);
    }
    if (std::isdigit(static_cast<unsigned char>(n)) || std::string_view("@*#?$!-").find(n) != std::string_view::npos) {
      pos_ += 2;
      return undetermined(w, line, "special parameter", fmt::format("${} is set by the shell", n));
    }
    if (!quoted && n == '\'') {
      ++pos_;
      const std::size_t end = s_.find('\'', pos_ + 1);
      if (end == std::string_view::npos) return syntax_error(line, "unterminated $'...'");
      pos_ = end + 1;
      return undetermined(w, line, "ANSI-C quoting", "$'...' is not read");
    }
    if (!quoted && n == '"') {  // $"..." is a translatable string: a double-quoted one here
      ++pos_;
      return read_double_quoted(w);
    }
    w.value += '$';
    ++pos_;
  }

  void append_lookup(Word& w, std::size_t line, const std::string& name, std::optional<std::size_t> index, bool all) {
    Word found = lookup(name, index, all);
    // `X=$X$X` doubles a value per line: bash would grow it until memory runs out. No word
    // may exceed what a whole dkms.conf may hold.
    if (w.value.size() + found.value.size() > kMaxDkmsConfBytes) {
      if (w.determined) {
        undetermined(w, line, "oversized value",
                     fmt::format("${} would make a word of more than {} bytes", name, kMaxDkmsConfBytes));
      }
      return;
    }
    w.value += found.value;
    if (!found.determined && w.determined) {
      w.determined = false;
      w.why = fmt::format("${} at line {}: {}", name, line, found.why);
    }
  }

  // At '"': reads to the closing quote.
  void read_double_quoted(Word& w) {
    const std::size_t line = line_;
    ++pos_;
    w.plain = false;
    while (!at_end()) {
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return;
      }
      if (c == '\\') {
        const char n = peek(1);
        if (n == '\n') {
          pos_ += 2;
          ++line_;
          continue;
        }
        if (n == '$' || n == '`' || n == '"' || n == '\\') {
          w.value += n;
          pos_ += 2;
          continue;
        }
        w.value += c;
        ++pos_;
        continue;
      }
      if (c == '$') {
        expand(w, true);
        if (failed_) return;
        continue;
      }
      if (c == '`') {
        skip_backquote(w);
        if (failed_) return;
        continue;
      }
      if (c == '\n') ++line_;
      w.value += c;
      ++pos_;
    }
    syntax_error(line, fmt::format("unterminated double quote opened at line {}", line));
  }

  Word read_word() {
    Word w;
    while (!at_end() && !failed_) {
      const char c = s_[pos_];
      if (is_meta(c)) break;
      if (c == '\\') {
        if (peek(1) == '\n') {
          pos_ += 2;
          ++line_;
          continue;
        }
        w.plain = false;
        if (pos_ + 1 < s_.size()) w.value += s_[pos_ + 1];
        pos_ += 2;
        continue;
      }
      if (c == '\'') {
        const std::size_t line = line_;
        const std::size_t end = s_.find('\'', pos_ + 1);
        if (end == std::string_view::npos) {
          syntax_error(line, fmt::format("unterminated single quote opened at line {}", line));
          break;
        }
        const std::string_view body = s_.substr(pos_ + 1, end - pos_ - 1);
        line_ += static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n'));
        w.value += body;
        w.plain = false;
        pos_ = end + 1;
        continue;
      }
      if (c == '"') {
        read_double_quoted(w);
        continue;
      }
      if (c == '$') {
        expand(w, false);
        continue;
      }
      if (c == '`') {
        w.plain = false;
        skip_backquote(w);
        continue;
      }
      w.value += c;
      ++pos_;
    }
    return w;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::size_t line_;
  bool failed_ = false;
  std::vector<std::pair<std::string, bool>> pending_heredocs_;
};

// Runs statements against a variable store. Assignments at top level and outside any
// shell logic are applied; everything else is reported and makes what it touches unknown.
class Interpreter {
 public:
  explicit Interpreter(StaticParseResult& out) : out_(out) {}

  void set_known(const std::string& name, std::string value) { vars_[name][0] = std::move(value); }

  void run(std::string_view text, std::size_t first_line) {
    Lexer lexer(text, first_line);
    lexer.lookup = [this](const std::string& name, std::optional<std::size_t> index, bool all) {
      return lookup(name, index, all);
    };
    lexer.unsupported = [this](std::size_t line, std::string construct, std::string detail) {
      report(line, std::move(construct), std::move(detail));
    };
    while (auto st = lexer.next_statement()) execute(*st);
  }
  const std::map<std::string, ShellArray>& vars() const { return vars_; }
  const std::map<std::string, std::string>& unknown() const { return unknown_; }
  const std::map<std::string, std::size_t>& assigned_at() const { return assigned_at_; }

 private:
  Word lookup(const std::string& name, std::optional<std::size_t> index, bool all) {
    Word w;
    if (const auto u = unknown_.find(name); u != unknown_.end()) {
      w.determined = false;
      w.why = u->second;
      return w;
    }
    if (const auto it = vars_.find(name); it != vars_.end()) {
      if (all) {
        for (const auto& [i, v] : it->second) w.value += (w.value.empty() ? "" : " ") + v;
      } else if (const auto e = it->second.find(index.value_or(0)); e != it->second.end()) {
        w.value = e->second;
      }
      return w;
    }
    if (kRuntimeVariables.contains(name)) {
      w.determined = false;
      w.why = fmt::format("{} is set by the shell at run time", name);
      return w;
    }
    if (noted_unset_.insert(name).second) {
      out_.notes.push_back({0, "unset variable",
                            fmt::format("${} is not set when DKMS reads the file: it expands "
                                        "to nothing",
                                        name)});
    }
    return w;
  }

  void report(std::size_t line, std::string construct, std::string detail) {
    out_.unsupported.push_back({line, std::move(construct), std::move(detail)});
  }

  void mark_unknown(const std::string& name, std::string why) {
    unknown_.emplace(name, std::move(why));
    vars_.erase(name);
  }

  void apply(const Assignment& a, std::size_t line) {
    if (!a.value.determined || !a.index_known) {
      mark_unknown(a.name, a.value.why);
      return;
    }
    if (unknown_.contains(a.name)) {
      // One element of an array whose other elements are unknown stays unknown as a whole.
      return;
    }
    std::string& slot = vars_[a.name][a.index.value_or(0)];
    slot = a.append ? slot + a.value.value : a.value.value;
    assigned_at_[a.name] = line;
  }

  void execute(const Statement& st) {
    const auto& tokens = st.tokens;
    if (tokens.empty()) return;
    bool conditional = !blocks_.empty();
    const std::size_t first = skip_block_keywords(st, conditional);
    if (track_operators_and_groups(st, first)) conditional = true;

    if (first >= tokens.size()) {
      mark_assignments_unknown(tokens, st.line, "inside shell logic");
      return;
    }
    if (conditional) {
      // Inside a block the block itself was reported; an operator outside one was too.
      if (blocks_.empty() && !tokens[first].assignment && tokens[first].kind == Token::Kind::word) {
        report(st.line, fmt::format("command {}", quote_input(tokens[first].w.value)), "commands are not run");
      }
      mark_assignments_unknown(tokens, st.line, fmt::format("assigned inside shell logic at line {}", st.line));
      return;
    }
    execute_plain(st, first);
  }

  // Leading block keywords: `then X=1` is an assignment inside the block. Returns the index
  // of the first token after them (tokens.size() when the rest is a condition or word list).
  std::size_t skip_block_keywords(const Statement& st, bool& conditional) {
    const auto& tokens = st.tokens;
    std::size_t first = 0;
    while (first < tokens.size() && tokens[first].kind == Token::Kind::word && !tokens[first].assignment &&
           tokens[first].w.plain) {
      const std::string& k = tokens[first].w.value;
      if (kBlockClosers.contains(k)) {
        if (!blocks_.empty()) blocks_.pop_back();
        ++first;
        continue;
      }
      if (kBlockOpeners.contains(k)) {
        report(st.line, k == "{" ? "group" : k, fmt::format("`{}` block: shell logic", k));
        blocks_.push_back(k);
        conditional = true;
        return tokens.size();  // the rest is the block's condition or word list
      }
      if (kBlockMiddles.contains(k)) {
        if (k == "elif") first = tokens.size();
        ++first;
        conditional = true;
        continue;
      }
      break;
    }
    return first;
  }

  // Operators, subshells, function definitions and `... {` groups: reports them and keeps
  // the block stack; returns whether the statement is shell logic because of them.
  bool track_operators_and_groups(const Statement& st, std::size_t first) {
    const auto& tokens = st.tokens;
    bool logic = false;
    // Parentheses: subshells and function definitions open blocks; inside `case`, a lone
    // `)` ends a pattern.
    int parens = 0;
    for (const auto& t : tokens) {
      if (t.kind != Token::Kind::op) continue;
      if (t.op == "(") ++parens;
      if (t.op == ")") --parens;
    }
    const auto op =
        std::find_if(tokens.begin(), tokens.end(), [](const Token& t) { return t.kind == Token::Kind::op; });
    if (op != tokens.end()) {
      const bool function_def = op != tokens.begin() && op->op == "(" && op + 1 != tokens.end() && (op + 1)->op == ")";
      if (function_def) {
        report(st.line, "function definition", "functions are shell logic");
      } else if (!blocks_.empty() && blocks_.back() == "case" && parens < 0) {
        // a case pattern
      } else {
        report(st.line, fmt::format("operator `{}`", op->op),
               "pipelines, lists, redirections and subshells are shell logic");
      }
      logic = true;
    }
    for (; parens > 0; --parens) blocks_.emplace_back("(");
    // `name() {` and `... {` open a group that a later `}` closes.
    if (first < tokens.size() && tokens.back().kind == Token::Kind::word && !tokens.back().assignment &&
        tokens.back().w.plain && tokens.back().w.value == "{" && &tokens.back() != &tokens[first]) {
      blocks_.emplace_back("{");
      logic = true;
    }
    for (; parens < 0 && !blocks_.empty() && blocks_.back() == "("; ++parens) blocks_.pop_back();
    return logic;
  }

  // A plain statement: assignments, optionally followed by a command.
  void execute_plain(const Statement& st, std::size_t first) {
    const auto& tokens = st.tokens;
    std::size_t i = first;
    while (i < tokens.size() && tokens[i].assignment) ++i;
    if (i == tokens.size()) {
      for (std::size_t j = first; j < tokens.size(); ++j) apply(*tokens[j].assignment, st.line);
      return;
    }
    const std::string command = tokens[i].w.value.empty() ? "<computed>" : tokens[i].w.value;
    if (tokens[i].w.plain && (command == "export" || command == "readonly")) {
      bool all_assignments = true;
      for (std::size_t j = i + 1; j < tokens.size(); ++j) {
        if (!tokens[j].assignment && !(tokens[j].w.plain && !tokens[j].w.value.starts_with("-"))) {
          all_assignments = false;
        }
      }
      if (all_assignments) {
        for (std::size_t j = first; j < tokens.size(); ++j) {
          if (tokens[j].assignment) apply(*tokens[j].assignment, st.line);
        }
        return;
      }
    }
    if (tokens[i].w.plain && (command == ":" || command == "true") && i + 1 == tokens.size() && i == first) {
      return;
    }
    if (tokens[i].w.plain && command == "\r" && i + 1 == tokens.size() && i == first) {
      // The empty line of a CRLF file: bash looks for a command named CR, does not find it,
      // and goes on with the variables untouched.
      out_.notes.push_back({st.line, "carriage return",
                            "CRLF line endings: bash runs this empty line as a command `\\r`, which fails "
                            "without effect; DKMS (>= 3.1.5) strips the CR that ends each value"});
      return;
    }
    report(st.line, fmt::format("command {}", quote_input(command)), "commands are not run");
    mark_assignments_unknown(tokens, st.line,
                             fmt::format("set beside command {} at line {}", quote_input(command), st.line));
  }

  void mark_assignments_unknown(const std::vector<Token>& tokens, std::size_t line, const std::string& why) {
    for (const auto& t : tokens) {
      if (t.assignment) {
        mark_unknown(t.assignment->name, why);
        assigned_at_[t.assignment->name] = line;
      }
    }
  }

  StaticParseResult& out_;
  std::map<std::string, ShellArray> vars_;
  std::map<std::string, std::string> unknown_;
  std::map<std::string, std::size_t> assigned_at_;
  std::set<std::string> noted_unset_;
  std::vector<std::string> blocks_;
};

// `echo NAME[i]="${NAME[i]}"` with the expansion unquoted: words split on blanks and
// newlines and are joined by single spaces.
std::string echo_collapse(std::string_view value) {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
  std::string out;
  bool pending_space = false;
  for (const char c : value) {
    if (ws(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  if (pending_space) out += ' ';
  return out;
}

// safe_source's `${NAME[i]%$CR}` (dkms >= 3.1.5): one carriage return at the end of each
// value goes, so a dkms.conf written with CRLF line endings reads as with LF.
std::string_view without_trailing_cr(std::string_view value) {
  if (value.ends_with('\r')) value.remove_suffix(1);
  return value;
}

}  // namespace

StaticParseResult parse_dkms_conf_static(std::string_view text, const DkmsEnvironment& env, std::string_view where) {
  if (text.size() > kMaxDkmsConfBytes) {
    fail(ErrorKind::usage, "{}: {} bytes is more than a dkms.conf may hold ({} bytes)", where, text.size(),
         kMaxDkmsConfBytes);
  }
  if (text.find('\0') != std::string_view::npos) {
    fail(ErrorKind::usage, "{}: contains a NUL byte; not a dkms.conf", where);
  }
  StaticParseResult out;

  // Pass 1: the file, sourced with DKMS's variables set.
  Interpreter first(out);
  for (const auto& [name, value] : env.variables()) first.set_known(name, value);
  first.run(text, 1);

  // Pass 2: safe_source writes each DKMS variable as NAME[i]="value" and sources that in
  // DKMS's shell, where the file's own helper variables no longer exist.
  Interpreter second(out);
  for (const auto& [name, value] : env.variables()) second.set_known(name, value);
  std::vector<std::string> undetermined;
  for (const auto name_view : dkms_conf_variable_names()) {
    const std::string name(name_view);
    if (first.unknown().contains(name)) {
      undetermined.push_back(name);
      continue;
    }
    const auto it = first.vars().find(name);
    if (it == first.vars().end()) continue;
    const auto at = first.assigned_at().find(name);
    const std::size_t line = at == first.assigned_at().end() ? 0 : at->second;
    for (const auto& [index, value] : it->second) {
      second.run(fmt::format("{}[{}]=\"{}\"\n", name, index, echo_collapse(without_trailing_cr(value))), line);
    }
    if (second.unknown().contains(name)) undetermined.push_back(name);
  }
  for (const auto name_view : dkms_conf_variable_names()) {
    const std::string name(name_view);
    if (const auto it = second.vars().find(name); it != second.vars().end()) {
      out.variables[name] = it->second;
    }
  }
  out.undetermined = std::move(undetermined);
  return out;
}

StaticParseResult parse_dkms_conf_static_file(const std::filesystem::path& file, const DkmsEnvironment& env) {
  const auto text = read_plain_file(file.parent_path(), file.filename().string(), kMaxDkmsConfBytes, file.string());
  if (!text) fail(ErrorKind::not_found, "{}: no such file", file.string());
  return parse_dkms_conf_static(*text, env, file.string());
}

std::string quote_input(std::string_view text, std::size_t limit) {
  std::string out = "`";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == limit) {
      out += fmt::format("...` ({} bytes)", text.size());
      return out;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\' || c == '`') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "`";
}

}  // namespace ckms::builder
