module example.com/inlprog

go 1.22
