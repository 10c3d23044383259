"""Recipes: YAML with one validated section per stage (each stage's config model lives in its package), loaded with
`extends:` and `section.key=value` overrides; the judge and verifier backends' configs shared by stages."""
