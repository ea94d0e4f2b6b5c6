/* The least any loader that checks a module's signature in user space must do, timed in the
 * guest beside insmod: what verification alone costs there, before any cache, state or
 * dependency work. Exit status 0 only when the module verifies.
 *
 *   verify_floor openssl CERT MODULE   X.509 and CMS through OpenSSL's usual API, as a
 *                                      loader built on OpenSSL would check it
 *   verify_floor minimal CERT MODULE   the kernel's own check with OpenSSL's primitives only:
 *                                      RSA key from the certificate's DER, PKCS#1 v1.5 over
 *                                      SHA-256 of the content; no decoders or providers
 *
 * Linked statically with libcrypto.a so that it starts like busybox, not like a dynamic program. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char kMagic[] = "~Module signature appended~\n";
enum { kMagicSize = sizeof(kMagic) - 1, kInfoSize = 12 };

static unsigned char module[8 << 20];

/* Splits "content | CMS | module_signature | magic"; returns the CMS length, 0 if unsigned. */
static size_t split(size_t size, size_t* content) {
	if (size < kMagicSize + kInfoSize || memcmp(module + size - kMagicSize, kMagic, kMagicSize) != 0) return 0;
	const unsigned char* info = module + size - kMagicSize - kInfoSize;
	const size_t cms = (size_t)info[8] << 24 | (size_t)info[9] << 16 | (size_t)info[10] << 8 | info[11];
	if (cms == 0 || cms > size - kMagicSize - kInfoSize) return 0;
	*content = size - kMagicSize - kInfoSize - cms;
	return cms;
}

static int verify_openssl(FILE* cert_file, size_t content, size_t cms_size) {
	X509* cert = PEM_read_X509(cert_file, NULL, NULL, NULL);
	const unsigned char* p = module + content;
	CMS_ContentInfo* cms = d2i_CMS_ContentInfo(NULL, &p, (long)cms_size);
	STACK_OF(X509)* certs = sk_X509_new_null();
	BIO* data = BIO_new_mem_buf(module, (int)content);
	if (cert == NULL || cms == NULL || certs == NULL || data == NULL || !sk_X509_push(certs, cert)) return 0;
	return CMS_verify(cms, certs, NULL, data, NULL, CMS_BINARY | CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY) == 1;
}

/* Steps into the TLV at *p (within end); returns its content length or -1. */
static long enter(const unsigned char** p, const unsigned char* end, int* tag, int* cls) {
	long length = 0;
	if (ASN1_get_object(p, &length, tag, cls, end - *p) & 0x80) return -1;
	return length;
}

static RSA* certificate_key(FILE* cert_file) {
	char *name = NULL, *header = NULL;
	unsigned char* der = NULL;
	long size = 0;
	if (!PEM_read(cert_file, &name, &header, &der, &size)) return NULL;
	const unsigned char *p = der, *end = der + size;
	int tag, cls;
	long length;
	if (enter(&p, end, &tag, &cls) < 0 || (length = enter(&p, end, &tag, &cls)) < 0) return NULL; /* cert, tbs */
	end = p + length;
	/* [0] version, then serial, signature, issuer, validity, subject: skip to the SPKI. */
	for (int field = 0; field < 7; ++field) {
		const unsigned char* q = p;
		if ((length = enter(&q, end, &tag, &cls)) < 0) return NULL;
		if (field == 0 && cls != V_ASN1_CONTEXT_SPECIFIC) field = 1;
		if (field == 6) {
			p = q;
			break;
		}
		p = q + length;
	}
	const unsigned char* spki_end = p + length;
	if ((length = enter(&p, spki_end, &tag, &cls)) < 0) return NULL; /* AlgorithmIdentifier */
	p += length;
	if ((length = enter(&p, spki_end, &tag, &cls)) < 1 || tag != V_ASN1_BIT_STRING || *p != 0) return NULL;
	++p;
	return d2i_RSAPublicKey(NULL, &p, length - 1);
}

static int verify_minimal(FILE* cert_file, size_t content, size_t cms_size) {
	static const unsigned char sha256_info[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	                                            0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
	RSA* key = certificate_key(cert_file);
	const unsigned char* p = module + content;
	CMS_ContentInfo* cms = d2i_CMS_ContentInfo(NULL, &p, (long)cms_size);
	if (key == NULL || cms == NULL) return 0;
	STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(signers) != 1) return 0;
	const ASN1_OCTET_STRING* signature = CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(signers, 0));
	unsigned char decrypted[1024];
	if (RSA_size(key) > (int)sizeof decrypted) return 0;
	const int length = RSA_public_decrypt(signature->length, signature->data, decrypted, key, RSA_PKCS1_PADDING);
	unsigned char expected[sizeof sha256_info + SHA256_DIGEST_LENGTH];
	memcpy(expected, sha256_info, sizeof sha256_info);
	SHA256_CTX sha;
	SHA256_Init(&sha);
	SHA256_Update(&sha, module, content);
	SHA256_Final(expected + sizeof sha256_info, &sha);
	return length == (int)sizeof expected && memcmp(decrypted, expected, sizeof expected) == 0;
}

int main(int argc, char** argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: verify_floor openssl|minimal CERT MODULE\n");
		return 2;
	}
	FILE* cert = fopen(argv[2], "r");
	FILE* file = fopen(argv[3], "rb");
	if (cert == NULL || file == NULL) {
		perror("verify_floor");
		return 2;
	}
	const size_t size = fread(module, 1, sizeof module, file);
	size_t content = 0;
	const size_t cms = split(size, &content);
	if (cms == 0) {
		fprintf(stderr, "verify_floor: %s: not signed\n", argv[3]);
		return 1;
	}
	const int ok = strcmp(argv[1], "openssl") == 0 ? verify_openssl(cert, content, cms) : verify_minimal(cert, content, cms);
	if (!ok) fprintf(stderr, "verify_floor: %s: does not verify (%s)\n", argv[3], argv[1]);
	return ok ? 0 : 1;
}
