#include "model/validation_errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace propsy::model {
namespace {

using ::testing::HasSubstr;

TEST(ValidationErrorsTest, EmptyIsOk) {
  ValidationErrors errors;
  EXPECT_TRUE(errors.ok());
  EXPECT_TRUE(errors.status().ok());
}

TEST(ValidationErrorsTest, JoinsPathsAndErrorsInOrder) {
  ValidationErrors errors;
  {
    ValidationErrors::ScopedField spec(&errors, ".spec");
    {
      ValidationErrors::ScopedField percent(&errors, ".percent");
      errors.AddError("must be between 0 and 100, got 150");
    }
    ValidationErrors::ScopedField nodes(&errors, ".nodes");
    ValidationErrors::ScopedField index(&errors, "[2]");
    errors.AddError("must be a non-empty string");
  }
  errors.AddError("top level");
  const absl::Status status = errors.status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "spec.percent: must be between 0 and 100, got 150; spec.nodes[2]: must be a "
            "non-empty string; top level");
  EXPECT_EQ(errors.size(), 3u);
}

TEST(ValidationErrorsTest, FieldHasErrorsLooksBelowTheCurrentPathOnly) {
  ValidationErrors errors;
  ValidationErrors::ScopedField spec(&errors, "spec");
  {
    ValidationErrors::ScopedField field(&errors, ".percentage");
    errors.AddError("bad");
  }
  {
    ValidationErrors::ScopedField field(&errors, ".percent");
    EXPECT_FALSE(errors.FieldHasErrors());
  }
  EXPECT_TRUE(errors.FieldHasErrors());
}

TEST(ValidationErrorsTest, CapsTheListedErrors) {
  ValidationErrors errors;
  for (size_t i = 0; i < ValidationErrors::kMaxListedErrors + 5; ++i) errors.AddError("x");
  EXPECT_THAT(std::string(errors.status().message()), HasSubstr("; and 5 more errors"));
}

}  // namespace
}  // namespace propsy::model
