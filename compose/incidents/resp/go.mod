module example.com/resp

go 1.22
