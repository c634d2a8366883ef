module harness/inlines

go 1.22
