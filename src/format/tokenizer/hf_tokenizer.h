// The tokenizer.json implementation behind jamba::Tokenizer.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "format/tokenizer/added_vocabulary.h"
#include "format/tokenizer/components.h"
#include "format/tokenizer/tokenizer.h"

namespace jamba::tok {

class HfTokenizer : public Tokenizer {
 public:
  explicit HfTokenizer(const std::string& path);

  Encoding encode_with_pieces(std::string_view text, bool add_special_tokens) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  size_t vocab_size() const override;
  int64_t id_limit() const override;
  bool has_id(int32_t id) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  std::optional<std::string> id_to_token(int32_t id) const override;
  bool is_special(int32_t id) const override;
  bool holds_back_trailing_bytes() const override;
  bool holds_back_last_token() const override;
  bool is_byte_token(int32_t id) const override;

  void load_config(const std::string& config_path) { read_config(config_path); }

 private:
  struct Truncation {
    size_t max_length = 0;
    bool only_second = false;
    bool left = false;
  };
  struct Padding {
    std::optional<size_t> fixed;
    std::optional<size_t> multiple;
    bool left = false;
    int32_t pad_id = 0;
    std::string pad_token;
  };

  void read_added_tokens(const JsonView& list);
  void read_truncation(const JsonView& j);
  void read_padding(const JsonView& j);
  const std::string* token_string(int32_t id) const;

  std::string file_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocabulary added_;
  std::optional<Truncation> truncation_;
  std::optional<Padding> padding_;
};

}  // namespace jamba::tok
