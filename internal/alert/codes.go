package alert

import "strings"

// isoCountries lists every officially assigned ISO 3166-1 alpha-2 code (249 codes).
const isoCountries = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"YE YT " +
	"ZA ZM ZW"

// isoCurrencies lists the active ISO 4217 alphabetic codes of currencies (fund codes,
// precious metals, SDR and testing codes are left out since goods are not valued in them).
const isoCurrencies = "" +
	"AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BHD BIF BMD BND " +
	"BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE " +
	"CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD " +
	"GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY " +
	"KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD " +
	"MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO " +
	"NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF " +
	"SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB " +
	"TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND " +
	"VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"

// withdrawnCurrencies were withdrawn recently; values of goods seized before the
// changeover may still be reported in them.
const withdrawnCurrencies = "ANG BGN CUC HRK SLL ZWL"

var (
	countrySet  = codeSet(isoCountries)
	currencySet = codeSet(isoCurrencies + " " + withdrawnCurrencies)
)

func codeSet(list string) map[string]struct{} {
	fields := strings.Fields(list)
	m := make(map[string]struct{}, len(fields))
	for _, f := range fields {
		m[f] = struct{}{}
	}
	return m
}

// ValidCountry reports whether s is an officially assigned ISO 3166-1 alpha-2 code in
// upper case, e.g. "NL".
func ValidCountry(s string) bool {
	if len(s) != 2 {
		return false
	}
	_, ok := countrySet[s]
	return ok
}

// ValidCurrency reports whether s is an ISO 4217 alphabetic currency code in upper case,
// e.g. "EUR". Recently withdrawn codes (such as BGN and HRK) are accepted.
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	_, ok := currencySet[s]
	return ok
}
