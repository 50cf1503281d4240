module github.com/closesink/closesink/bench/jsoncompare

go 1.26.8

replace github.com/closesink/closesink => ../..

require (
	github.com/bytedance/sonic v1.15.5
	github.com/closesink/closesink v0.0.0-00010101000000-000000000000
	github.com/go-json-experiment/json v1.27.2
	github.com/nyaruka/phonenumbers v1.8.1
	github.com/tidwall/gjson v1.20.2
	github.com/valyala/fastjson v1.6.10
)

require (
	github.com/bytedance/gopkg v0.1.3 // indirect
	github.com/bytedance/sonic/loader v0.5.3 // indirect
	github.com/cloudwego/base64x v0.1.6 // indirect
	github.com/klauspost/cpuid/v2 v2.2.9 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.3.0 // indirect
	github.com/twitchyliquid64/golang-asm v0.15.1 // indirect
	golang.org/x/arch v0.0.0-20210923205945-b76863e36670 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
