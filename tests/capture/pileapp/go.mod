module example.com/pileapp

go 1.22
