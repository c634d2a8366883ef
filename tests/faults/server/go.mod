module example.com/faultsrv

go 1.22
