module example.com/loadtestserver

go 1.22
