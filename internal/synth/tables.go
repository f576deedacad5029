package synth

import (
	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
)

// Reference data for the generator. Everything here is public knowledge or invented;
// no real case is described.

type place struct {
	locode string
	name   string
	kind   alertv1.LocationType
}

const (
	seaport = alertv1.LocationType_LOCATION_TYPE_SEAPORT
	airport = alertv1.LocationType_LOCATION_TYPE_AIRPORT
	border  = alertv1.LocationType_LOCATION_TYPE_LAND_BORDER
	postal  = alertv1.LocationType_LOCATION_TYPE_POSTAL_CENTRE
	express = alertv1.LocationType_LOCATION_TYPE_EXPRESS_HUB
)

// homePlaces are places of seizure by administration.
var homePlaces = map[string][]place{
	"NL": {{"NLRTM", "Rotterdam", seaport}, {"NLAMS", "Amsterdam Schiphol", airport}, {"NLVLI", "Vlissingen", seaport}},
	"BE": {{"BEANR", "Antwerp", seaport}, {"BEZEE", "Zeebrugge", seaport}, {"BEBRU", "Brussels Airport", airport}, {"BELGG", "Liege Airport", express}},
	"DE": {{"DEHAM", "Hamburg", seaport}, {"DEBRV", "Bremerhaven", seaport}, {"DEFRA", "Frankfurt Airport", airport}, {"DELEJ", "Leipzig Airport", express}},
	"ES": {{"ESALG", "Algeciras", seaport}, {"ESVLC", "Valencia", seaport}, {"ESBCN", "Barcelona", seaport}, {"ESMAD", "Madrid Barajas", airport}},
	"FR": {{"FRLEH", "Le Havre", seaport}, {"FRMRS", "Marseille-Fos", seaport}, {"FRCDG", "Paris Charles de Gaulle", airport}},
	"IT": {{"ITGOA", "Genoa", seaport}, {"ITGIT", "Gioia Tauro", seaport}, {"ITLIV", "Livorno", seaport}, {"ITMXP", "Milan Malpensa", airport}},
	"GR": {{"GRPIR", "Piraeus", seaport}, {"GRATH", "Athens Airport", airport}},
	"PT": {{"PTSIE", "Sines", seaport}, {"PTLIS", "Lisbon", seaport}},
	"PL": {{"PLGDN", "Gdansk", seaport}, {"PLWAW", "Warsaw Chopin", airport}, {"PLTER", "Terespol", border}},
	"IE": {{"IEDUB", "Dublin", seaport}, {"IEORK", "Cork", seaport}},
	"SI": {{"SIKOP", "Koper", seaport}},
	"HR": {{"HRRJK", "Rijeka", seaport}},
	"BG": {{"BGVAR", "Varna", seaport}, {"BGKAP", "Kapitan Andreevo", border}},
	"RO": {{"ROCND", "Constanta", seaport}},
	"LT": {{"LTKLJ", "Klaipeda", seaport}, {"LTMED", "Medininkai", border}},
	"FI": {{"FIHEL", "Helsinki", seaport}, {"FIVAA", "Vaalimaa", border}},
	"SE": {{"SEGOT", "Gothenburg", seaport}},
	"DK": {{"DKAAR", "Aarhus", seaport}, {"DKCPH", "Copenhagen Airport", airport}},
	"GB": {{"GBFXT", "Felixstowe", seaport}, {"GBSOU", "Southampton", seaport}, {"GBLGP", "London Gateway", seaport}},
	"CY": {{"CYLMS", "Limassol", seaport}},
	"MT": {{"MTMAR", "Marsaxlokk", seaport}},
}

// foreignPorts are ports and airports of departure and transit by country.
var foreignPorts = map[string][]string{
	"EC": {"ECGYE", "ECPSJ"},
	"CO": {"COCTG", "COBUN", "COSMR"},
	"PA": {"PAMIT", "PABLB"},
	"BR": {"BRSSZ", "BRPNG"},
	"PE": {"PECLL"},
	"CR": {"CRMOB"},
	"DO": {"DOCAU"},
	"CN": {"CNSHA", "CNNGB", "CNYTN", "CNTAO"},
	"HK": {"HKHKG"},
	"AE": {"AEJEA", "AEDXB"},
	"TR": {"TRMER", "TRIST", "TRAMR"},
	"SG": {"SGSIN"},
	"MY": {"MYPKG", "MYTPP"},
	"VN": {"VNSGN", "VNHPH"},
	"NG": {"NGAPP", "NGLOS"},
	"MA": {"MAPTM", "MACAS"},
	"LB": {"LBBEY"},
	"SY": {"SYLTK"},
	"IN": {"INNSA", "INMUN"},
	"PK": {"PKKHI"},
	"MZ": {"MZMPM"},
	"CM": {"CMDLA"},
	"KE": {"KEMBA"},
	"CD": {"CDMAT"},
	"ZA": {"ZADUR"},
	"US": {"USNYC", "USLAX"},
	"BY": {"BYMSQ"},
	"UA": {"UAODS"},
	"EG": {"EGPSD"},
	"GH": {"GHTEM"},
	"TH": {"THLCH"},
	"JO": {"JOAQJ"},
	"ET": {"ETADD"},
	"QA": {"QADOH"},
	"IR": {"IRBND"},
	"AF": {"AFKBL"},
	"PY": {"PYASU"},
	"BO": {"BOVVI"},
}

// transitHubs are the transhipment countries often seen between origin and Europe.
var transitHubs = []string{"PA", "MA", "TR", "AE", "SG", "EG", "MY", "HK"}

type unitPrice struct {
	currency string
	min, max float64 // per unit of quantity
}

// profile describes a kind of seizure or risk: goods, codes, routes and modus operandi.
type profile struct {
	group       alertv1.CommodityGroup
	hs          []string
	desc        []string
	offences    []alertv1.OffenceType
	unit        alertv1.QuantityUnit
	qtyMin      float64
	qtyMax      float64
	price       unitPrice
	origins     []string // country of origin
	modes       []alertv1.TransportMode
	export      bool // goods leave the customs territory
	destination []string
	brands      []string
	species     []string
	drugType    string
	drugForms   []string
	concealment []string
	title       string
	weight      int
}

var (
	smuggling = alertv1.OffenceType_OFFENCE_TYPE_SMUGGLING
	prohibit  = alertv1.OffenceType_OFFENCE_TYPE_PROHIBITED_GOODS
	ipr       = alertv1.OffenceType_OFFENCE_TYPE_IPR_INFRINGEMENT
	cites     = alertv1.OffenceType_OFFENCE_TYPE_CITES
	launder   = alertv1.OffenceType_OFFENCE_TYPE_MONEY_LAUNDERING
	underval  = alertv1.OffenceType_OFFENCE_TYPE_UNDERVALUATION
	falseOrig = alertv1.OffenceType_OFFENCE_TYPE_FALSE_ORIGIN
	misclass  = alertv1.OffenceType_OFFENCE_TYPE_MISCLASSIFICATION

	sea     = alertv1.TransportMode_TRANSPORT_MODE_SEA_CONTAINER
	airPax  = alertv1.TransportMode_TRANSPORT_MODE_AIR_PASSENGER
	airCgo  = alertv1.TransportMode_TRANSPORT_MODE_AIR_CARGO
	road    = alertv1.TransportMode_TRANSPORT_MODE_ROAD
	rail    = alertv1.TransportMode_TRANSPORT_MODE_RAIL
	post    = alertv1.TransportMode_TRANSPORT_MODE_POSTAL
	courier = alertv1.TransportMode_TRANSPORT_MODE_EXPRESS_COURIER

	kg     = alertv1.QuantityUnit_QUANTITY_UNIT_KILOGRAM
	litre  = alertv1.QuantityUnit_QUANTITY_UNIT_LITRE
	piece  = alertv1.QuantityUnit_QUANTITY_UNIT_PIECE
	stick  = alertv1.QuantityUnit_QUANTITY_UNIT_STICK
	unitCt = alertv1.QuantityUnit_QUANTITY_UNIT_UNIT
)

var profiles = []profile{
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS, hs: []string{"293972"},
		desc: []string{"cocaine hydrochloride in bricks", "cocaine packages marked with logos"}, drugType: "cocaine",
		drugForms: []string{"powder", "bricks"}, offences: []alertv1.OffenceType{smuggling, prohibit},
		unit: kg, qtyMin: 20, qtyMax: 2500, price: unitPrice{"EUR", 25000, 40000},
		origins: []string{"CO", "EC", "PE", "BO"}, modes: []alertv1.TransportMode{sea, sea, sea, airPax, post},
		concealment: []string{"rip-on/rip-off bags behind the container doors", "false floor in a reefer container",
			"among banana boxes", "inside the cooling unit of a reefer container", "in hollowed-out pineapples"},
		title: "Cocaine in reefer containers", weight: 14,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS, hs: []string{"130190", "121190"},
		desc: []string{"cannabis resin", "herbal cannabis"}, drugType: "cannabis", drugForms: []string{"resin", "herbal"},
		offences: []alertv1.OffenceType{smuggling, prohibit}, unit: kg, qtyMin: 5, qtyMax: 3000,
		price: unitPrice{"EUR", 2000, 6000}, origins: []string{"MA", "AF", "LB"}, modes: []alertv1.TransportMode{road, sea},
		concealment: []string{"in a load of fresh vegetables", "in the fuel tank of a lorry", "behind a false wall of the trailer"},
		title:       "Cannabis resin in fruit and vegetable loads", weight: 8,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS, hs: []string{"293979", "300490"},
		desc: []string{"captagon tablets", "fenetylline tablets"}, drugType: "captagon", drugForms: []string{"tablets"},
		offences: []alertv1.OffenceType{smuggling, prohibit}, unit: unitCt, qtyMin: 100000, qtyMax: 5000000,
		price: unitPrice{"EUR", 2, 10}, origins: []string{"SY", "LB", "JO"}, modes: []alertv1.TransportMode{sea},
		concealment: []string{"inside industrial rollers", "in pomegranates made of plaster", "in coffee machines"},
		title:       "Captagon tablets hidden in machinery", weight: 4,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_TOBACCO, hs: []string{"240220", "24022090", "240311"},
		desc:   []string{"cigarettes without excise stamps", "counterfeit cigarettes", "water pipe tobacco"},
		brands: []string{"Marlboro", "Jin Ling", "Minsk", "NZ Gold", "Raquel"}, offences: []alertv1.OffenceType{smuggling, ipr},
		unit: stick, qtyMin: 200000, qtyMax: 12000000, price: unitPrice{"EUR", 0.15, 0.35},
		origins: []string{"AE", "CN", "BY", "VN", "TR"}, modes: []alertv1.TransportMode{sea, road, rail},
		concealment: []string{"cover load of plastic tableware", "declared as furniture", "in a load of wood pellets"},
		title:       "Cigarettes under cover loads", weight: 14,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_ALCOHOL, hs: []string{"220830", "220860", "22083011"},
		desc: []string{"whisky", "vodka in bulk"}, brands: []string{"Johnnie Walker", "Absolut", "unbranded"},
		offences: []alertv1.OffenceType{smuggling, underval}, unit: litre, qtyMin: 500, qtyMax: 40000,
		price: unitPrice{"EUR", 6, 30}, origins: []string{"GB", "UA", "AE"}, modes: []alertv1.TransportMode{road, sea},
		concealment: []string{"declared as mineral water", "excise documents of another consignment"},
		title:       "Spirits moving under forged excise documents", weight: 5,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_IPR_HEALTH_SAFETY, hs: []string{"640399", "910211", "420222", "950300", "300490"},
		desc:   []string{"counterfeit sports shoes", "counterfeit watches", "counterfeit handbags", "unsafe toys", "falsified medicines"},
		brands: []string{"Nike", "Rolex", "Louis Vuitton", "Lego", "Viagra"}, offences: []alertv1.OffenceType{ipr},
		unit: piece, qtyMin: 50, qtyMax: 60000, price: unitPrice{"EUR", 5, 150},
		origins: []string{"CN", "HK", "TR", "IN"}, modes: []alertv1.TransportMode{sea, courier, post, airCgo},
		concealment: []string{"logos covered by removable stickers", "mixed with generic goods"},
		title:       "Counterfeit goods in small consignments", weight: 14,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_ENVIRONMENT_CITES, hs: []string{"050710", "050790"},
		desc: []string{"raw elephant ivory tusks", "pangolin scales"}, species: []string{"Loxodonta africana", "Phataginus tricuspis"},
		offences: []alertv1.OffenceType{cites, smuggling}, unit: kg, qtyMin: 10, qtyMax: 4000,
		price: unitPrice{"USD", 300, 1000}, origins: []string{"NG", "CM", "CD", "MZ"}, modes: []alertv1.TransportMode{sea, airCgo},
		destination: []string{"VN", "CN", "MY"}, concealment: []string{"declared as cashew nuts", "under frozen fish"},
		title: "Ivory and pangolin scales in transit", weight: 5,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_ENVIRONMENT_CITES, hs: []string{"030192"},
		desc: []string{"live European glass eels"}, species: []string{"Anguilla anguilla"},
		offences: []alertv1.OffenceType{cites, smuggling}, unit: kg, qtyMin: 10, qtyMax: 400,
		price: unitPrice{"EUR", 1000, 5000}, origins: []string{"FR", "ES", "PT"}, modes: []alertv1.TransportMode{airPax, airCgo},
		export: true, destination: []string{"HK", "CN", "VN"}, concealment: []string{"oxygenated bags in suitcases", "declared as live crabs"},
		title: "Glass eels leaving by air", weight: 3,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_CASH_MONEY_LAUNDERING, hs: []string{"490700"},
		desc:     []string{"undeclared euro banknotes", "undeclared US dollar banknotes"},
		offences: []alertv1.OffenceType{launder}, unit: piece, qtyMin: 200, qtyMax: 20000,
		price: unitPrice{"EUR", 50, 100}, origins: []string{"NL", "BE", "ES"}, modes: []alertv1.TransportMode{airPax, road},
		export: true, destination: []string{"AE", "CO", "TR", "MA"}, concealment: []string{"vacuum-packed in hand luggage", "in the spare wheel"},
		title: "Cash couriers on outbound flights", weight: 5,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_WEAPONS_SECURITY, hs: []string{"930320", "930200", "930630"},
		desc: []string{"shotguns", "pistols", "cartridges"}, offences: []alertv1.OffenceType{prohibit, smuggling},
		unit: piece, qtyMin: 1, qtyMax: 300, price: unitPrice{"EUR", 50, 900},
		origins: []string{"TR", "US", "UA"}, modes: []alertv1.TransportMode{post, courier, road},
		concealment: []string{"parts shipped separately as tools", "blank-firing guns for conversion"},
		title:       "Firearms and parts in postal parcels", weight: 4,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_CULTURAL_HERITAGE, hs: []string{"970510", "970600", "970531"},
		desc:     []string{"antique coins", "archaeological artefacts", "manuscripts older than 100 years"},
		offences: []alertv1.OffenceType{smuggling, alertv1.OffenceType_OFFENCE_TYPE_OTHER}, unit: piece, qtyMin: 1, qtyMax: 800,
		price: unitPrice{"EUR", 100, 20000}, origins: []string{"SY", "EG", "IQ", "LB"}, modes: []alertv1.TransportMode{courier, post, airPax},
		concealment: []string{"declared as souvenirs of little value", "false export licence"},
		title:       "Looted antiquities declared as souvenirs", weight: 3,
	},
	{
		group: alertv1.CommodityGroup_COMMODITY_GROUP_REVENUE, hs: []string{"871160", "854143", "610910", "7214991000"},
		desc:     []string{"electric bicycles", "photovoltaic modules", "cotton T-shirts", "steel bars"},
		offences: []alertv1.OffenceType{underval, falseOrig, misclass}, unit: piece, qtyMin: 100, qtyMax: 50000,
		price: unitPrice{"EUR", 2, 400}, origins: []string{"CN", "VN", "MY", "TH"}, modes: []alertv1.TransportMode{sea, rail},
		concealment: []string{"transhipped to disguise the origin", "invoices at a fraction of the market price"},
		title:       "Undervalued and re-routed goods evading duties", weight: 12,
	},
}

var vesselNames = []string{
	"MSC Aurora", "Maersk Kensington", "CMA CGM Tage", "Hapag Express", "Cosco Harmony",
	"Ever Gentle", "ONE Triumph", "Zim Sammy", "Seago Bremerhaven", "Northern Jaguar",
}

// ownerCodes are container owner codes with category U.
var ownerCodes = []string{"MSCU", "MSKU", "MRKU", "CMAU", "HLXU", "CSQU", "OOLU", "EGHU", "TGHU", "TCLU", "SEGU", "CAIU", "TRHU", "FSCU", "BMOU"}

var airlines = []string{"KL", "AF", "LH", "IB", "TK", "EK", "QR", "ET", "AV", "CM"}

var companyNames = []string{
	"Global Fresh Fruit Trading S.A.", "Oceanic Logistics Ltd", "Eurasia Import Export GmbH",
	"Sunrise Distribution B.V.", "Atlas Freight Forwarding SARL", "Pacific Commodities Co., Ltd",
	"Nordic General Goods AB", "Blue Line Shipping Agency", "Mediterranean Wholesale S.r.l.",
}

var familyNames = []string{"Jansen", "Garcia", "Muller", "Rossi", "Kowalski", "Silva", "Dubois", "Yilmaz", "Okafor", "Nguyen"}
var givenNames = []string{"Anna", "Carlos", "Pieter", "Maria", "Luca", "Fatima", "Jean", "Mehmet", "Chidi", "Linh"}

var legalBases = []string{"Naples II art. 15", "Regulation (EU) 515/97 art. 17", "CMAA bilateral agreement", "Johannesburg Convention"}

var languages = map[string]string{
	"NL": "nl", "BE": "nl", "DE": "de", "ES": "es", "FR": "fr", "IT": "it", "GR": "el", "PT": "pt",
	"PL": "pl", "IE": "en", "SI": "sl", "HR": "hr", "BG": "bg", "RO": "ro", "LT": "lt", "FI": "fi",
	"SE": "sv", "DK": "da", "GB": "en", "CY": "el", "MT": "mt",
}
