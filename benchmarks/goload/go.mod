module example.com/goload

go 1.22
