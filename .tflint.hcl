# TFLint for the pre-commit hook (.pre-commit-config.yaml). The terraform ruleset ships with TFLint; its
# recommended preset flags deprecated syntax, unused declarations and missing version constraints.
plugin "terraform" {
  enabled = true
  preset  = "recommended"
}
