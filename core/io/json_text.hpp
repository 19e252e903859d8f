// Helpers that keep spinfer's use of nlohmann::json safe when memory runs out.
//
// nlohmann::json (3.11.2) frees a non-empty object or array by first moving its
// children onto a heap-allocated stack (json_value::destroy); that allocation happens
// inside a noexcept destructor, so if it fails the process terminates. spinfer
// therefore never builds JSON documents to write them (headers are composed as text
// with quoted()), and empties every parsed document from the leaves up before it is
// destroyed (JsonTeardown), so its destructor has no children left to move.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

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

// Empties `j` bottom-up without allocating; returns false (leaving the rest to the
// library) below `depth` levels, which spinfer's documents never reach.
inline bool empty_bottom_up(nlohmann::json& j, int depth = 16) noexcept {
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

}  // namespace spinfer::io
