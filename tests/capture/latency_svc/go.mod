module example.com/latencysvc

go 1.22
