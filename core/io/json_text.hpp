// Helpers that keep spinfer's use of nlohmann::json safe when memory runs out.
//
// nlohmann::json (3.11.2) frees a non-empty object or array by first moving its
// children onto a heap-allocated stack (json_value::destroy); that allocation happens
// inside a noexcept destructor, so if it fails the process terminates. spinfer
// therefore never builds JSON documents to write them (headers are composed as text
// with quoted()), parses into a document the caller owns (parse_json: json::parse
// would destroy its half-built result itself when an allocation fails mid-parse), and
// empties every parsed document from the leaves up before it is destroyed
// (JsonTeardown), so its destructor has no children left to move.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace spinfer::io {

// `s` as a JSON string literal (quotes and escapes). Invalid UTF-8 is the caller's
// INVALID_ARGUMENT, not an internal error.
inline std::string quoted(const std::string& s) {
  try {
    return nlohmann::json(s).dump();
  } catch (const nlohmann::json::type_error&) {
    throw Error(SPINFER_STATUS_INVALID_ARGUMENT, "name or metadata text is not valid UTF-8");
  }
}

// Text of a JSON object built member by member; `value` is JSON text already. Members
// are written in the order added (add them sorted to match json::dump()).
class ObjectText {
 public:
  void add(const std::string& key, const std::string& value) {
    text_ += text_.empty() ? '{' : ',';
    text_ += quoted(key);
    text_ += ':';
    text_ += value;
  }
  std::string str() const { return text_.empty() ? std::string("{}") : text_ + "}"; }

 private:
  std::string text_;
};

// JSON text of an array of integers.
template <typename Int>
std::string int_array(std::initializer_list<Int> values) {
  std::string text = "[";
  for (Int v : values) {
    if (text.size() > 1) text += ',';
    text += std::to_string(v);
  }
  text += ']';
  return text;
}

// Deepest nesting of objects and arrays parse_json accepts, and so the depth the
// teardown below recurses to. spinfer's documents use 3 levels, Hugging Face configs
// a handful.
constexpr int kMaxJsonDepth = 64;

// Empties `j` bottom-up without allocating; returns false (leaving the rest to the
// library) below `depth` levels, which parse_json never builds.
inline bool empty_bottom_up(nlohmann::json& j, int depth = kMaxJsonDepth) noexcept {
  if (!j.is_structured()) return true;
  if (depth == 0) return false;
  bool all = true;
  for (auto& child : j) all = empty_bottom_up(child, depth - 1) && all;
  if (all) j.clear();  // children are scalars or empty now: nothing to move, no allocation
  return all;
}

// Scope guard: empties a parsed document before its destructor runs (also when an
// exception unwinds the scope).
struct JsonTeardown {
  nlohmann::json& doc;
  ~JsonTeardown() { empty_bottom_up(doc); }
};

// SAX handler of parse_json: builds the document straight into the caller's root, so
// whatever is built when an allocation fails stays the caller's to tear down.
class JsonBuilder {
 public:
  using json = nlohmann::json;
  explicit JsonBuilder(json& root) : root_(root) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool v) { return add(json(v)); }
  bool number_integer(json::number_integer_t v) { return add(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return add(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return add(json(v)); }
  bool string(json::string_t& v) { return add(json(std::move(v))); }
  bool binary(json::binary_t& v) { return add(json::binary(std::move(v))); }  // not in JSON text
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    // A repeated key is refused (which of two values a reader takes is not defined by
    // JSON; in a safetensors header it would let two entries describe one tensor).
    if (open_.back()->contains(k)) {
      duplicate_ = k;
      return false;  // stops the parse
    }
    slot_ = &(*open_.back())[k];
    return true;
  }
  const std::string& duplicate() const { return duplicate_; }
  template <typename Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& e) {
    throw e;
  }

 private:
  // Stores `v` where the parser stands: the root, the current key's slot, or the end
  // of the open array. If that fails, `v` is a scalar or an empty container: freeing
  // it cannot allocate.
  json& place(json&& v) {
    if (!open_.empty() && open_.back()->is_array()) {
      open_.back()->push_back(std::move(v));
      return open_.back()->back();
    }
    json& at = open_.empty() ? root_ : *slot_;
    at = std::move(v);  // replaces a null: nothing to free
    return at;
  }
  bool add(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json::value_t type) {
    if (int(open_.size()) >= kMaxJsonDepth) return false;  // stops the parse
    json& container = place(json(type));
    open_.push_back(&container);
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  json& root_;
  std::vector<json*> open_;  // the objects and arrays not yet closed, outermost first
  json* slot_ = nullptr;     // value of the last key read
  std::string duplicate_;    // a key seen twice in one object, when the parse stopped on it
};

// Parses JSON text into `doc` (null before; guard it with a JsonTeardown first).
// Returns "" or what is wrong with the text (a syntax error, or nesting deeper than
// kMaxJsonDepth). Out of memory throws std::bad_alloc, leaving `doc` half-built.
inline std::string parse_json(std::string_view text, nlohmann::json& doc) {
  // JSON text has no byte-order mark (RFC 8259 §8.1; Python's json refuses one too).
  if (text.substr(0, 3) == "\xEF\xBB\xBF") return "the text starts with a UTF-8 byte-order mark";
  JsonBuilder builder(doc);
  try {
    if (nlohmann::json::sax_parse(text.begin(), text.end(), &builder)) return {};
  } catch (const nlohmann::json::exception& e) {
    return e.what();
  }
  if (!builder.duplicate().empty()) return "key '" + builder.duplicate() + "' appears twice in one object";
  return "objects and arrays nest deeper than " + std::to_string(kMaxJsonDepth) + " levels";
}

}  // namespace spinfer::io
