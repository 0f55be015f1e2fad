#include "format/tokenizer/spm_model_proto.h"

#include <cstring>

#include "base/error.h"

namespace jamba::tok {

namespace {

class Reader {
 public:
  Reader(const char* p, size_t n, const std::string& label) : p_(p), end_(p + n), label_(label) {}
  bool done() const { return p_ >= end_; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) fail(label_, ": truncated protobuf varint");
      const uint8_t b = static_cast<uint8_t>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(label_, ": protobuf varint longer than 10 bytes");
  }
  std::string bytes() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_)) fail(label_, ": protobuf field length ", n, " runs past the end");
    std::string s(p_, static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  uint32_t fixed32() {
    if (end_ - p_ < 4) fail(label_, ": truncated protobuf fixed32");
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p_[i]);
    p_ += 4;
    return v;
  }
  void skip(uint32_t wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1:
        if (end_ - p_ < 8) fail(label_, ": truncated protobuf fixed64");
        p_ += 8;
        return;
      case 2: bytes(); return;
      case 5: fixed32(); return;
      default: fail(label_, ": unsupported protobuf wire type ", wire);
    }
  }

 private:
  const char* p_;
  const char* end_;
  const std::string& label_;
};

template <typename OnField>
void each_field(const std::string& message, const std::string& label, OnField on_field) {
  Reader in(message.data(), message.size(), label);
  while (!in.done()) {
    const uint64_t tag = in.varint();
    const uint32_t field = static_cast<uint32_t>(tag >> 3), wire = static_cast<uint32_t>(tag & 7);
    if (!on_field(field, wire, in)) in.skip(wire);
  }
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (static_cast<uint64_t>(field) << 3) | wire); }
void put_bytes(std::string& out, uint32_t field, const std::string& s) {
  put_tag(out, field, 2);
  put_varint(out, s.size());
  out += s;
}
void put_uint(std::string& out, uint32_t field, uint64_t v) {
  put_tag(out, field, 0);
  put_varint(out, v);
}

}  // namespace

SpmModel parse_spm_model(const std::string& bytes, const std::string& label) {
  SpmModel model;
  each_field(bytes, label, [&](uint32_t field, uint32_t wire, Reader& in) {
    if (wire != 2 || field < 1 || field > 3) return false;
    const std::string sub = in.bytes();
    if (field == 1) {
      SpmPiece piece;
      each_field(sub, label, [&](uint32_t f, uint32_t w, Reader& r) {
        if (f == 1 && w == 2) {
          piece.piece = r.bytes();
        } else if (f == 2 && w == 5) {
          const uint32_t bits = r.fixed32();
          std::memcpy(&piece.score, &bits, 4);
        } else if (f == 3 && w == 0) {
          piece.type = static_cast<int>(r.varint() & 0xff);
        } else {
          return false;
        }
        return true;
      });
      model.pieces.push_back(std::move(piece));
    } else if (field == 2) {
      each_field(sub, label, [&](uint32_t f, uint32_t w, Reader& r) {
        if (f == 3 && w == 0) model.model_type = static_cast<int>(r.varint() & 0xff);
        else if (f == 35 && w == 0) model.byte_fallback = r.varint() != 0;
        else return false;
        return true;
      });
    } else {
      each_field(sub, label, [&](uint32_t f, uint32_t w, Reader& r) {
        if (f == 1 && w == 2) model.normalizer_name = r.bytes();
        else if (f == 2 && w == 2) model.has_precompiled_charsmap = !r.bytes().empty();
        else if (f == 3 && w == 0) model.add_dummy_prefix = r.varint() != 0;
        else if (f == 4 && w == 0) model.remove_extra_whitespaces = r.varint() != 0;
        else if (f == 5 && w == 0) model.escape_whitespaces = r.varint() != 0;
        else return false;
        return true;
      });
    }
    return true;
  });
  if (model.pieces.empty()) fail(label, ": the SentencePiece model has no pieces");
  return model;
}

std::string serialize_spm_model(const SpmModel& model) {
  std::string out;
  for (const SpmPiece& p : model.pieces) {
    std::string piece;
    put_bytes(piece, 1, p.piece);
    put_tag(piece, 2, 5);
    uint32_t bits;
    std::memcpy(&bits, &p.score, 4);
    for (int i = 0; i < 4; ++i) piece.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
    put_uint(piece, 3, static_cast<uint64_t>(p.type));
    put_bytes(out, 1, piece);
  }
  std::string trainer;
  put_uint(trainer, 3, static_cast<uint64_t>(model.model_type));
  put_uint(trainer, 35, model.byte_fallback ? 1 : 0);
  put_bytes(out, 2, trainer);
  std::string normalizer;
  put_bytes(normalizer, 1, model.normalizer_name.empty() ? "identity" : model.normalizer_name);
  put_uint(normalizer, 3, model.add_dummy_prefix ? 1 : 0);
  put_uint(normalizer, 4, model.remove_extra_whitespaces ? 1 : 0);
  put_uint(normalizer, 5, model.escape_whitespaces ? 1 : 0);
  put_bytes(out, 3, normalizer);
  return out;
}

}  // namespace jamba::tok
