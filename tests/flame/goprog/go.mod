module example.com/flame

go 1.22
