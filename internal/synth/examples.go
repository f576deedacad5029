package synth

import (
	"time"

	alertv1 "github.com/cix-exchange/cix/internal/gen/cix/alert/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Fixed ids of the example alerts.
const (
	ValidSeizureID = "0b9e4a52-6c1d-4f3e-9a7b-2d5c8e1f4a60"
	ValidRiskID    = "7f3c2b1a-9d8e-4c6b-8a5f-1e2d3c4b5a69"
)

// ExampleIssuedAt is the issued_at of the example alerts.
var ExampleIssuedAt = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// ValidSeizure returns a small valid seizure alert from "NL": cocaine found in a reefer
// container in Rotterdam. Each call returns a new message.
func ValidSeizure() *alertv1.Alert {
	return &alertv1.Alert{
		Id:       ValidSeizureID,
		Version:  1,
		Origin:   &alertv1.Origin{Administration: "NL", Office: "NL000396"},
		IssuedAt: timestamppb.New(ExampleIssuedAt),
		Handling: &alertv1.Handling{
			Tlp:        alertv1.Tlp_TLP_AMBER,
			Code:       alertv1.HandlingCode_HANDLING_CODE_H1,
			LegalBasis: "Naples II art. 15",
		},
		Grading: &alertv1.Grading{
			SourceReliability:   alertv1.SourceReliability_SOURCE_RELIABILITY_A,
			InformationAccuracy: alertv1.InformationAccuracy_INFORMATION_ACCURACY_1,
		},
		NationalCaseReference: "NL-2026-000042",
		Body: &alertv1.Alert_Seizure{Seizure: &alertv1.SeizureAlert{
			SeizedAt:        timestamppb.New(ExampleIssuedAt.Add(-20 * time.Hour)),
			LocationType:    alertv1.LocationType_LOCATION_TYPE_SEAPORT,
			Location:        "NLRTM",
			CustomsOffice:   "NL000396",
			Direction:       alertv1.Direction_DIRECTION_IMPORT,
			OffenceTypes:    []alertv1.OffenceType{alertv1.OffenceType_OFFENCE_TYPE_SMUGGLING},
			DetectionMethod: alertv1.DetectionMethod_DETECTION_METHOD_SCANNER,
			Concealment:     "rip-on/rip-off bags behind the container doors",
			Goods: []*alertv1.Goods{{
				CommodityGroup: alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS,
				Description:    "cocaine hydrochloride in bricks",
				HsCode:         "293972",
				DrugType:       "cocaine",
				DrugForm:       "powder",
				QuantityFound:  &alertv1.Quantity{Amount: 312.5, Unit: alertv1.QuantityUnit_QUANTITY_UNIT_KILOGRAM},
				Value:          &alertv1.Money{Currency: "EUR", Amount: "9375000.00"},
			}},
			Conveyance: &alertv1.Conveyance{
				Mode:             alertv1.TransportMode_TRANSPORT_MODE_SEA_CONTAINER,
				VesselName:       "MSC Aurora",
				ImoNumber:        "9074729",
				ContainerNumbers: []string{"CSQU3054383"},
				TransportDocuments: []*alertv1.TransportDocument{{
					Type:   alertv1.TransportDocumentType_TRANSPORT_DOCUMENT_TYPE_BILL_OF_LADING,
					Number: "MEDUEC123456",
				}},
			},
			Route: &alertv1.Route{
				CountryOfOrigin:      "EC",
				CountryOfDeparture:   "EC",
				TransitCountries:     []string{"PA"},
				CountryOfDestination: "NL",
				Places:               []string{"ECGYE", "PAMIT", "NLRTM"},
			},
			Companies: []*alertv1.Company{{
				Role:    alertv1.CompanyRole_COMPANY_ROLE_CONSIGNEE,
				Name:    "Sunrise Distribution B.V.",
				Eori:    "NL123456789",
				Country: "NL",
			}},
			FollowUp: &alertv1.FollowUp{
				GoodsHeldAt:         "customs warehouse NLRTM",
				InvestigationStatus: alertv1.InvestigationStatus_INVESTIGATION_STATUS_OPEN,
				RelatedAlertIds:     []string{ValidRiskID},
			},
		}},
	}
}

// ValidRisk returns a small valid risk alert from "NL": a shipment warning on cocaine
// in banana reefers. Each call returns a new message.
func ValidRisk() *alertv1.Alert {
	return &alertv1.Alert{
		Id:       ValidRiskID,
		Version:  1,
		Origin:   &alertv1.Origin{Administration: "NL", Office: "NL000396"},
		IssuedAt: timestamppb.New(ExampleIssuedAt),
		Handling: &alertv1.Handling{
			Tlp:  alertv1.Tlp_TLP_GREEN,
			Code: alertv1.HandlingCode_HANDLING_CODE_H0,
		},
		Grading: &alertv1.Grading{
			SourceReliability:   alertv1.SourceReliability_SOURCE_RELIABILITY_B,
			InformationAccuracy: alertv1.InformationAccuracy_INFORMATION_ACCURACY_2,
		},
		Body: &alertv1.Alert_Risk{Risk: &alertv1.RiskAlert{
			Type:            alertv1.RiskAlertType_RISK_ALERT_TYPE_SHIPMENT_WARNING,
			Title:           "Cocaine in banana reefers from Guayaquil",
			ValidUntil:      timestamppb.New(ExampleIssuedAt.Add(90 * 24 * time.Hour)),
			Urgency:         alertv1.Urgency_URGENCY_PRIORITY,
			CommodityGroups: []alertv1.CommodityGroup{alertv1.CommodityGroup_COMMODITY_GROUP_DRUGS},
			HsCodes:         []string{"2939", "080390"},
			ModusOperandi:   "Rip-on/rip-off bags placed behind the doors of reefer containers of bananas.",
			Route: &alertv1.Route{
				CountryOfOrigin:      "EC",
				CountryOfDestination: "NL",
				Places:               []string{"ECGYE", "NLRTM"},
			},
			PortsOfInterest: []string{"NLRTM", "BEANR"},
			Indicators: []*alertv1.Indicator{
				{Indicator: &alertv1.Indicator_HsCode{HsCode: "0803"}, Description: "bananas as cover load"},
				{Indicator: &alertv1.Indicator_ContainerPrefix{ContainerPrefix: "CSQU"}},
				{Indicator: &alertv1.Indicator_Route{Route: &alertv1.Route{CountryOfOrigin: "EC", TransitCountries: []string{"PA"}}}},
			},
			Shipments: []*alertv1.ShipmentIdentifier{{
				ContainerNumber: "CSQU3054383",
				BillOfLading:    "MEDUEC123456",
				Eta:             timestamppb.New(ExampleIssuedAt.Add(6 * 24 * time.Hour)),
			}},
			RequestedAction:  alertv1.RequestedAction_REQUESTED_ACTION_SPECIFIC_CHECK,
			FeedbackRequired: true,
			FeedbackDue:      timestamppb.New(ExampleIssuedAt.Add(14 * 24 * time.Hour)),
			EvidenceLinks:    []string{"https://evidence.cix.example/7f3c2b1a/xray-1.png"},
			OriginalLanguage: "nl",
			Status:           alertv1.RiskAlertStatus_RISK_ALERT_STATUS_ACTIVE,
		}},
	}
}
