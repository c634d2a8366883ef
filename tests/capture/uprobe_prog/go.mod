module example.com/uprobeprog

go 1.22
