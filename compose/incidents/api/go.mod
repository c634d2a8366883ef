module example.com/incidents/api

go 1.22

require example.com/resp v0.0.0

replace example.com/resp => ../resp
