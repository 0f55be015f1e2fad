// Post-processors (tokenizers/src/processors), for a single sequence: the special tokens a
// template adds around it. ByteLevel only adjusts offsets, which we do not report.
#include "format/tokenizer/components.h"

namespace jamba::tok {

namespace {

class Template : public PostProcessor {
 public:
  struct Piece {
    bool is_sequence = false;
    std::vector<Token> special;  // for a special-token piece
  };
  explicit Template(std::vector<Piece> single) : single_(std::move(single)) {
    for (const Piece& p : single_) added_ += p.special.size();
  }
  size_t added_tokens() const override { return added_; }
  void process(std::vector<Token>& tokens, bool add_special_tokens) const override {
    std::vector<Token> out;
    out.reserve(tokens.size() + added_);
    for (const Piece& p : single_) {
      if (p.is_sequence) {
        out.insert(out.end(), tokens.begin(), tokens.end());
      } else if (add_special_tokens) {
        out.insert(out.end(), p.special.begin(), p.special.end());
      }
    }
    tokens = std::move(out);
  }

 private:
  std::vector<Piece> single_;
  size_t added_ = 0;
};

class Surround : public PostProcessor {  // RobertaProcessing / BertProcessing: cls A sep
 public:
  Surround(Token cls, Token sep) : cls_(std::move(cls)), sep_(std::move(sep)) {}
  size_t added_tokens() const override { return 2; }
  void process(std::vector<Token>& tokens, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    tokens.insert(tokens.begin(), cls_);
    tokens.push_back(sep_);
  }

 private:
  Token cls_, sep_;
};

class Identity : public PostProcessor {
 public:
  size_t added_tokens() const override { return 0; }
  void process(std::vector<Token>&, bool) const override {}
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  size_t added_tokens() const override {
    size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens();
    return n;
  }
  void process(std::vector<Token>& tokens, bool add_special_tokens) const override {
    for (const auto& p : parts_) p->process(tokens, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

int32_t token_id(const JsonView& j) { return static_cast<int32_t>(j.uint(0x7FFFFFFF)); }

Token token_pair(const JsonView& j) {  // ["<s>", 0]
  if (!j.is_array() || j.size() != 2) j.expected("a pair [token, id]");
  return Token{token_id(j[1]), j[0].str()};
}

std::unique_ptr<PostProcessor> template_from_json(const JsonView& j) {
  JsonView specials = j.at("special_tokens");
  if (!specials.is_object()) specials.expected("an object");
  JsonView single = j.at("single");
  j.at("pair").size();  // required by HF; only single sequences are encoded here
  std::vector<Template::Piece> pieces;
  for (size_t i = 0; i < single.size(); ++i) {
    JsonView p = single[i];
    if (!p.is_object() || p.json().size() != 1) p.expected("an object {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    Template::Piece piece;
    if (auto seq = p.find("Sequence")) {
      std::string id = seq->str("id");
      seq->at("type_id").uint();
      if (id == "B") seq->at("id").error("is \"B\": a single-sequence template can only use sequence A");
      if (id != "A") seq->at("id").error("must be \"A\" or \"B\", found ", in_quotes(id, 60));
      piece.is_sequence = true;
    } else if (auto sp = p.find("SpecialToken")) {
      std::string name = sp->str("id");
      sp->at("type_id").uint();
      auto entry = specials.find(name);
      if (!entry) sp->at("id").error("names ", in_quotes(name, 60), ", which is not in special_tokens");
      JsonView ids = entry->at("ids");
      JsonView toks = entry->at("tokens");
      if (ids.size() != toks.size())
        entry->error("has ", ids.size(), " ids but ", toks.size(), " tokens");
      for (size_t k = 0; k < ids.size(); ++k) piece.special.push_back(Token{token_id(ids[k]), toks[k].str()});
    } else {
      p.expected("an object {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
    pieces.push_back(std::move(piece));
  }
  return std::make_unique<Template>(std::move(pieces));
}

}  // namespace

std::unique_ptr<PostProcessor> post_processor_from_json(const JsonView& j) {
  if (!j.is_object()) j.expected("an object");
  const std::string type = j.str("type");
  if (type == "TemplateProcessing") return template_from_json(j);
  if (type == "ByteLevel") return std::make_unique<Identity>();
  if (type == "RobertaProcessing" || type == "BertProcessing")
    return std::make_unique<Surround>(token_pair(j.at("cls")), token_pair(j.at("sep")));
  if (type == "Sequence") {
    JsonView list = j.at("processors");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (size_t i = 0; i < list.size(); ++i) parts.push_back(post_processor_from_json(list[i]));
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  j.at("type").error("names an unknown post-processor ", in_quotes(type, 60));
}

}  // namespace jamba::tok
