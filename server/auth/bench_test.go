package auth

import (
	"context"
	"crypto"
	"testing"
)

func benchmarkVerify(b *testing.B, cacheSize int, parallel bool) {
	for _, alg := range []struct {
		name string
		key  crypto.Signer
		kid  string
	}{{"RS256", rsaKey(), "rsa-1"}, {"ES256", ecKey(), "ec-1"}} {
		b.Run(alg.name, func(b *testing.B) {
			v := newTestVerifier(b, Config{CacheSize: cacheSize})
			tok := mustSign(b, alg.key, alg.kid, validClaims())
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := v.Verify(ctx, tok); err != nil {
							b.Error(err)
							return
						}
					}
				})
				return
			}
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchmarkVerify(b, 0, false) })
	b.Run("parallel", func(b *testing.B) { benchmarkVerify(b, 0, true) })
}

func BenchmarkVerifyUncached(b *testing.B) {
	benchmarkVerify(b, -1, false)
}
