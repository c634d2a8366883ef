module example.com/capapp

go 1.22
