module perfagree

go 1.22
